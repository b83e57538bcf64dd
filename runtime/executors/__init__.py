"""Model executors. Each backend lives in its own module and imports its library lazily."""
from runtime.executors.base import (  # noqa: F401
    ChoiceRequest,
    ChoiceResult,
    Executor,
    GenRequest,
    Generation,
    confidence,
)
