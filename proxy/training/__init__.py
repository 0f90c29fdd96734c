"""Training and evaluation helpers for the router's models; imported only by `scripts/` and tests.

- `data.py`: long-format files -> labelled prompts, the train/test split by prompt, and feature tables
  with out-of-fold `History`, computed by the proxy's own `compute_features`;
- `profiles.py`: candidate profiles (catalog entries, or derived from the data for models the catalog
  does not know);
- `fit.py`: the LightGBM correctness and output-length models and the isotonic calibration;
- `export.py`: ONNX conversion and `manifest.json`;
- `replay.py`: held-out prompts through a scorer and the proxy's `choose()`, over a sweep of settings;
- `metrics.py`: quality-cost metrics (AIQ, APGR, CPT, ECE, cost at equal quality); numpy only;
- `baselines.py`: kNN and TF-IDF + logistic-regression routers for comparison.

The proxy never imports this package: the training libraries (lightgbm, scikit-learn, onnxmltools,
matplotlib) live in the `[train]` extra and are imported only in `fit.py`, `export.py` and `baselines.py`.
"""
