"""collab: a language for collaboration schemes between small and large language models.

The compiler (parse -> AST -> checks -> IR) lives here and never imports torch,
transformers, trl, vllm or litellm.
"""
__version__ = "0.1.0"
