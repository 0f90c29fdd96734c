"""The way out: calls to upstream LLMs (directly or through litellm), retries, circuit breakers and prices."""
