"""ml_pipeline: extract -> features (Dask DataFrame) -> train -> ship only if better.

A churn model for a made-up shop, retrained daily. Runs on a fresh machine with
no network: the first task writes the "external" data source itself.

    prepare_source >> extract >> features.aggregate >> features.build_matrix >> train
    train >> evaluate (branch) >> [ship | keep_current] >> report
    extract >> archive_raw (BashOperator, templated with {{ ds_nodash }})

- ``prepare_source`` writes six monthly CSV exports of transactions plus a
  customer table (deterministic, about 70,000 rows) into ``<base_dir>/source``
  once; later runs find it there. It stands in for a system the shop does not own.
- ``extract`` (``retries=2``) checks the export against its manifest and copies
  it into ``<base_dir>/raw/<ds>``. Set the param ``source_failures`` to N to make
  its first N attempts fail as an unreachable source would, and watch the retry.
- ``features.aggregate`` runs a ``dask.dataframe`` group-by on the same cluster
  from inside the task (``worker_client`` secedes, so it cannot deadlock even a
  2-thread cluster); ``features.build_matrix`` joins the labels and derives columns.
- ``train`` fits a logistic regression with NumPy (gradient descent) and saves it.
- ``evaluate`` scores the model in ``<production_dir>`` on the same held-out
  customers and returns ``"ship"`` when the new one is better by at least
  ``min_improvement`` (or there is none yet), else ``"keep_current"``.
- ``report`` (``none_failed_min_one_success``) runs after whichever branch ran.

Expected states: every task ``success`` except one of ``ship``/``keep_current``,
which is ``skipped``. The first run ships; a second run on the same data keeps
the current model (equal score). The run succeeds.

Paths: params ``base_dir`` and ``production_dir`` (default
``<home>/examples/ml_pipeline`` and ``<home>/production/ml_pipeline``, where
``<home>`` is ``$DASKFLOW_HOME`` or ``~/daskflow`` as the *worker* sees it; on a
multi-machine cluster point them at storage every worker shares).

    daskflow dags test ml_pipeline --dags-folder examples/
    daskflow dags test ml_pipeline --dags-folder examples/ --conf '{"source_failures": 1}'
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from daskflow import DAG, TaskGroup, TriggerRule, config, get_current_context, task
from daskflow.operators import BashOperator

MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
PLANS = ["basic", "plus", "pro"]


# -- where things live -----------------------------------------------------------------
def _base_dir(params: dict[str, Any]) -> Path:
    return Path(params.get("base_dir") or config.home() / "examples" / "ml_pipeline")


def _production_dir(params: dict[str, Any]) -> Path:
    return Path(params.get("production_dir") or config.home() / "production" / "ml_pipeline")


def _write_json(path: Path, value: Any) -> None:
    """Write then rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
    os.replace(tmp, path)


# -- the pretend source system ---------------------------------------------------------
def _generate_source(folder: Path, customers: int, seed: int) -> dict[str, int]:
    """Customers with a churn label, and their monthly transactions (deterministic)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = np.arange(1, customers + 1)
    plan = rng.choice(PLANS, size=customers, p=[0.5, 0.35, 0.15])
    activity = rng.gamma(2.0, 1.0, customers)
    return_rate = rng.beta(1.5, 12.0, customers)
    plan_effect = pd.Series(plan).map({"basic": 0.4, "plus": 0.0, "pro": -0.6}).to_numpy()
    logit = 0.6 - 0.9 * activity + 9.0 * return_rate + plan_effect
    logit += rng.normal(0.0, 0.5, customers)
    churned = rng.random(customers) < 1.0 / (1.0 + np.exp(-logit))

    folder.mkdir(parents=True)
    pd.DataFrame({"customer_id": ids, "plan": plan, "churned": churned.astype(int)}).to_csv(
        folder / "customers.csv", index=False)
    rows = {"customers.csv": customers}
    spend = pd.Series(plan).map({"basic": 3.0, "plus": 3.5, "pro": 4.2}).to_numpy()
    for month_number, month in enumerate(MONTHS, start=1):
        fading = np.where(churned, 0.75 ** max(0, month_number - 3), 1.0)
        counts = rng.poisson(3.0 * activity * fading)
        who = np.repeat(np.arange(customers), counts)
        frame = pd.DataFrame({
            "customer_id": ids[who],
            "day": [f"{month}-{d:02d}" for d in rng.integers(1, 29, who.size)],
            "amount": np.round(rng.lognormal(spend[who], 0.6), 2),
            "is_return": (rng.random(who.size) < return_rate[who]).astype(int),
        })
        name = f"transactions_{month}.csv"
        frame.to_csv(folder / name, index=False)
        rows[name] = len(frame)
    return rows


@task
def prepare_source(params=None) -> str:
    """Create the source export once; later runs reuse it (same data every time)."""
    source = _base_dir(params) / "source"
    if (source / "_manifest.json").exists():
        print(f"Source already present at {source}")
        return str(source)
    staging = source.with_name(f"source.{secrets.token_hex(4)}.tmp")
    rows = _generate_source(staging, int(params["customers"]), int(params["seed"]))
    _write_json(staging / "_manifest.json", rows)
    try:
        staging.rename(source)
    except OSError:  # another run created it first: use theirs
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Wrote {sum(rows.values())} rows in {len(rows)} files to {source}")
    return str(source)


@task(retries=2, retry_delay=timedelta(seconds=1))  # seconds for the demo; minutes in real life
def extract(source: str, run_day: str, params=None, ti=None) -> dict[str, Any]:
    """Copy the export for this run into ``raw/<ds>``, checking it against its manifest."""
    if ti.try_number <= int(params.get("source_failures") or 0):
        raise ConnectionError(f"source {source} did not answer (simulated, try {ti.try_number})")
    manifest = json.loads((Path(source) / "_manifest.json").read_text())
    raw = _base_dir(params) / "raw" / run_day
    raw.mkdir(parents=True, exist_ok=True)
    for name, expected in manifest.items():
        with open(Path(source) / name) as f:
            found = sum(1 for _ in f) - 1
        if found != expected:
            raise ValueError(f"{name}: {found} rows, the manifest says {expected}")
        shutil.copy2(Path(source) / name, raw / name)
    print(f"Extracted {sum(manifest.values())} rows into {raw}")
    return {"raw_dir": str(raw), "archive_dir": str(_base_dir(params) / "archive"),
            "rows": sum(manifest.values())}


# -- features --------------------------------------------------------------------------
def _per_customer(pattern: str) -> Any:
    """Per-customer aggregates of every transaction file: a lazy dask.dataframe."""
    import dask.dataframe as dd

    tx = dd.read_csv(pattern, dtype={"customer_id": "int64", "amount": "float64",
                                     "is_return": "int64", "day": "string"})
    tx["month"] = tx["day"].str.slice(5, 7).astype("int64")
    tx["recent"] = (tx["month"] >= 5).astype("int64")
    tx["net_amount"] = tx["amount"].where(tx["is_return"] == 0, -tx["amount"])
    return tx.groupby("customer_id").agg({
        "amount": ["count", "sum", "mean", "max"], "net_amount": "sum",
        "is_return": "sum", "recent": "sum", "month": "max",
    })


@task
def aggregate(raw: dict[str, Any]) -> Any:
    """Group-by on the cluster itself; returns a small pandas DataFrame (one row per customer)."""
    from distributed import worker_client

    pattern = str(Path(raw["raw_dir"]) / "transactions_*.csv")
    with worker_client() as client:  # secedes: this thread's slot is free meanwhile
        frame = client.compute(_per_customer(pattern)).result()
    frame.columns = ["n_tx", "spend", "mean_amount", "max_amount", "net_spend", "returns",
                     "recent_tx", "last_month"]
    print(f"Aggregated transactions of {len(frame)} customers")
    return frame.sort_index()


@task
def build_matrix(aggregates: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """Join labels, derive model inputs, and mark every fifth customer as held out."""
    import pandas as pd

    customers = pd.read_csv(Path(raw["raw_dir"]) / "customers.csv").set_index("customer_id")
    table = customers.join(aggregates, how="left").fillna(0.0)
    n_tx = table["n_tx"].clip(lower=1)
    derived = pd.DataFrame({
        "tx_per_month": table["n_tx"] / len(MONTHS),
        "log_spend": np.log1p(table["spend"]),
        "mean_amount": table["mean_amount"],
        "return_share": table["returns"] / n_tx,
        "recent_share": table["recent_tx"] / n_tx,
        "months_idle": len(MONTHS) - table["last_month"],
        "refund_ratio": np.where(table["spend"] > 0, (table["spend"] - table["net_spend"])
                                 / (2 * table["spend"].clip(lower=0.01)), 0.0),
        "plan_plus": (table["plan"] == "plus").astype(float),
        "plan_pro": (table["plan"] == "pro").astype(float),
    }, index=table.index)
    return {"X": derived.to_numpy(dtype=float), "y": table["churned"].to_numpy(dtype=float),
            "is_test": (table.index.to_numpy() % 5) == 0,
            "features": list(derived.columns)}


# -- the model -------------------------------------------------------------------------
def _predict(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    z = (X - np.asarray(model["mean"])) / np.asarray(model["std"])
    return 1.0 / (1.0 + np.exp(-(z @ np.asarray(model["weights"]) + model["bias"])))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: the chance a churner scores above a stayer."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    positives = y == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _fit_logistic(X: np.ndarray, y: np.ndarray, steps: int = 400, rate: float = 0.5,
                  l2: float = 1e-3) -> tuple[np.ndarray, float]:
    weights, bias = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ weights + bias)))
        weights -= rate * (X.T @ (p - y) / len(y) + l2 * weights)
        bias -= rate * float(np.mean(p - y))
    return weights, bias


@task
def train(matrix: dict[str, Any], run_day: str, params=None) -> dict[str, Any]:
    """Standardize, fit, score on the held-out customers, save the model as JSON."""
    X, y, test = matrix["X"], matrix["y"], matrix["is_test"]
    mean, std = X[~test].mean(axis=0), X[~test].std(axis=0) + 1e-9
    weights, bias = _fit_logistic((X[~test] - mean) / std, y[~test])
    model = {"features": matrix["features"], "mean": mean.tolist(), "std": std.tolist(),
             "weights": weights.tolist(), "bias": bias, "trained_for": run_day}
    p = _predict(model, X[test])
    model["metrics"] = {
        "auc": round(_auc(y[test], p), 6),
        "accuracy": round(float(np.mean((p >= 0.5) == (y[test] == 1))), 6),
        "test_customers": int(test.sum()),
    }
    path = _base_dir(params) / "models" / run_day / "model.json"
    _write_json(path, model)
    print(f"Trained on {int((~test).sum())} customers: {model['metrics']}")
    return {"model_path": str(path), **model["metrics"]}


@task.branch
def evaluate(candidate: dict[str, Any], matrix: dict[str, Any], params=None) -> str:
    """``"ship"`` if the new model beats production on the same held-out customers."""
    current_path = _production_dir(params) / "model.json"
    if not current_path.exists():
        print("No model in production yet: shipping the new one")
        return "ship"
    current = json.loads(current_path.read_text())
    if current["features"] != matrix["features"]:
        print("Production model uses other features: shipping the new one")
        return "ship"
    test = matrix["is_test"]
    current_auc = _auc(matrix["y"][test], _predict(current, matrix["X"][test]))
    margin = float(params.get("min_improvement") or 0.0)
    print(f"AUC new {candidate['auc']:.4f} vs production {current_auc:.4f} (margin {margin})")
    return "ship" if candidate["auc"] >= current_auc + margin else "keep_current"


@task
def ship(candidate: dict[str, Any], params=None) -> dict[str, Any]:
    target = _production_dir(params) / "model.json"
    _write_json(target, json.loads(Path(candidate["model_path"]).read_text()))
    print(f"Shipped {candidate['model_path']} to {target}")
    return {"decision": "ship", "production": str(target), "auc": candidate["auc"]}


@task
def keep_current(candidate: dict[str, Any]) -> dict[str, Any]:
    print(f"Keeping the production model; {candidate['model_path']} stays unshipped")
    return {"decision": "keep_current", "auc": candidate["auc"]}


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def report() -> dict[str, Any]:
    """Runs after whichever of ship / keep_current ran (the other one is skipped)."""
    ti = get_current_context()["ti"]
    outcome = next(r for r in ti.xcom_pull(task_ids=["ship", "keep_current"]) if r)
    print(f"ml_pipeline {ti.run_id}: {outcome['decision']} (new model AUC {outcome['auc']})")
    return outcome


with DAG(
    dag_id="ml_pipeline",
    description="Daily churn model: extract, Dask features, NumPy training, ship if better",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "ml"],
    params={
        "base_dir": None,          # default <home>/examples/ml_pipeline
        "production_dir": None,    # default <home>/production/ml_pipeline
        "customers": 2000,
        "seed": 7,
        "min_improvement": 0.001,  # AUC the new model must gain to replace production
        "source_failures": 0,      # simulate an unreliable source: fail extract N times
    },
) as dag:
    raw = extract(prepare_source(), run_day="{{ ds }}")
    with TaskGroup("features", tooltip="Dask DataFrame aggregation and model inputs"):
        matrix = build_matrix(aggregate(raw), raw)
    candidate = train(matrix, run_day="{{ ds }}")
    decision = evaluate(candidate, matrix)
    decision >> [ship(candidate), keep_current(candidate)] >> report()
    BashOperator(
        task_id="archive_raw",
        bash_command='mkdir -p "$ARCHIVE_DIR" && '
                     'tar -czf "$ARCHIVE_DIR/raw_{{ ds_nodash }}.tar.gz" -C "$RAW_DIR" . && '
                     'echo "$ARCHIVE_DIR/raw_{{ ds_nodash }}.tar.gz"',
        env={"RAW_DIR": raw["raw_dir"], "ARCHIVE_DIR": raw["archive_dir"]},
        append_env=True,
    )
