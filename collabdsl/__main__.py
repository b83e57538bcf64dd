"""``python -m collabdsl``: the ``collab`` command line."""
from collabdsl.cli import app

if __name__ == "__main__":
    app(prog_name="collab")
