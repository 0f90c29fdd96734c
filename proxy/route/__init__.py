"""The routing decision, with no I/O: features -> scores -> choice.

`router.py` ties them together; `catalog.py` is what the router knows of each model; `features/` computes the
seed's prompt, LLM and prompt-x-LLM features (shared with training); `scoring.py` runs the ONNX models;
`choice.py` filters, prices and ranks the candidates.
"""
