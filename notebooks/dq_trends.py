# %% [markdown]
# # Data-quality trends
# Pass rate of every rule per run (ops.dq_metrics), the rules that fail most in the latest run, and what sits
# in quarantine. Headless: `MDM_CONF=conf MDM_LAKE=lake python notebooks/dq_trends.py`

# %%
import os

import pandas as pd

from customer_mdm.config import load_config
from customer_mdm.ops.report import dq_pass_rates, open_lake, quarantine_reasons
from customer_mdm.ops.tables import DQ_METRICS
from customer_mdm.silver.quarantine import QUARANTINE

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
lake = open_lake(load_config(os.environ.get("MDM_CONF", "conf"), lake=os.environ.get("MDM_LAKE") or None))
store = lake.store

# %% Pass rate per rule (rows) and run (columns, oldest first)
if not store.exists(DQ_METRICS):
    raise SystemExit(f"{DQ_METRICS} does not exist yet: run the batch job first")
rates = dq_pass_rates(store.read(DQ_METRICS))
runs = list(dict.fromkeys(rates["run_id"]))
print(f"== pass rate per rule, {len(runs)} run(s) ==")
wide = rates.pivot_table(index="rule", columns="run_id", values="pass_rate")[runs]
print(wide.to_string(float_format="{:.4f}".format))

# %% The latest run's rules, worst first
latest = rates[rates["run_id"] == runs[-1]].sort_values(["pass_rate", "rule"])
print(f"\n== run {runs[-1]}: rows checked and failed per rule ==")
print(latest[["rule", "rows_checked", "rows_failed", "pass_rate"]].to_string(index=False))

# %% Quarantine by source, rule and column
if store.exists(QUARANTINE):
    print("\n== quarantined rows ==")
    print(quarantine_reasons(store.read(QUARANTINE)).to_string(index=False))

# %%
lake.close()
