"""The offline work behind `switchyard label|export|train|evaluate|replay` (`proxy/cli/offline.py`).

Reading the log and labelling it:
- `export_log.py`: the call log as long-format rows and JSONL records (what training and replay read);
- `label.py`: an LLM judge and reference-answer metrics, written as labels to the log;
- `log_replay.py`: logged traffic through new models (offline), or to unchosen candidates (online).

Training (`train.py` ties them together):
- `inputs.py`: the files to train on, the labelled calls of a log among them;
- `dataset.py`: the long routing-data format; `data.py`: labelled prompts, the train/test split by prompt,
  and feature tables with out-of-fold `History`, computed by the proxy's own `compute_features`;
- `profiles.py`: candidate profiles (catalog entries, or derived from the data for unknown models);
- `fit.py`: the LightGBM correctness and output-length models and the isotonic calibration;
- `export.py`: ONNX conversion and `manifest.json`.

Evaluation (`evaluate.py` ties them together):
- `replay.py`: held-out prompts through a scorer and the proxy's `choose()`, over a sweep of settings;
- `curves.py`: a router's reported numbers and bootstrap intervals; `metrics.py`: AIQ, APGR, CPT, ECE;
- `baselines.py`: kNN and TF-IDF + logistic-regression routers for comparison;
- `evaluation_report.py` (text) and `plot.py` (PNG).

The proxy's request path never imports this package. The training libraries (lightgbm, scikit-learn,
skl2onnx, onnxmltools, onnx, matplotlib) live in the `[train]` extra and are imported only in `fit.py`,
`export.py`, `baselines.py` and `plot.py`; everything else here runs without them.
"""
