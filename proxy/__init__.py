"""Switchyard: an OpenAI-compatible proxy that routes each chat request to the best LLM.

Importing this package does no I/O and reads no environment variable; everything heavy
(litellm, onnxruntime sessions, the log store) is opened in the app's lifespan.
"""

__version__ = "0.1.0"
