"""Simulated LLM backends: one local OpenAI-compatible server impersonating the models of the routing data.

Run it with `python -m proxy.simulator`, or build the app with `proxy.simulator.app.create_app(SimSettings())`.
Which answer is acceptable, how long it is and how fast it streams all come from aggregates of real
measurements (`profiles.json`, built by `scripts/build_sim_profiles.py`) and, when the data directory is
present, from the real per-prompt labels.
"""
