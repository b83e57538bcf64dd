"""collab runtime: agents, executors, trainer and run store.

Heavy libraries (torch, transformers, trl, vllm, litellm) are imported only inside
the executor and trainer modules that need them.
"""
