"""``python -m collabdsl``: the ``collab`` command line."""
from collabdsl.lintcmd import main

if __name__ == "__main__":
    main()
