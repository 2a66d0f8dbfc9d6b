# %% [markdown]
# # Working the review queue
# The open items of gold.review_queue with why the model was unsure (per-comparison levels and weights) and
# the two records side by side. Decide by adding a line `left,right,decision,reviewer,note` (decision accept or
# reject, records as `source:record_id`) to the review-decisions CSV that conf/overrides.yaml names; the next
# batch run applies it. Headless: `MDM_CONF=conf MDM_LAKE=lake MDM_REVIEW_LIMIT=5 python notebooks/review_queue.py`

# %%
import os

import pandas as pd
from pyspark.sql import functions as F

from customer_mdm.config import load_config
from customer_mdm.gold.tables import REVIEW_QUEUE
from customer_mdm.hops.refine import PARTY
from customer_mdm.ops.report import open_lake, review_queue_sizes

pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 80)
lake = open_lake(load_config(os.environ.get("MDM_CONF", "conf"), lake=os.environ.get("MDM_LAKE") or None))
store = lake.store
limit = int(os.environ.get("MDM_REVIEW_LIMIT", "10"))

# %% Queue size by status
if not store.exists(REVIEW_QUEUE):
    raise SystemExit(f"{REVIEW_QUEUE} does not exist yet: run the batch job first")
queue = store.read(REVIEW_QUEUE)
print(review_queue_sizes(queue).to_string(index=False))

# %% Open items, most likely matches first, with their explanation
terms = F.transform("explanation", lambda t: F.format_string("%s=%s (%+.1f)", t["name"], t["level"], t["weight"]))
open_items = queue.where(F.col("status") == "open").select(
    F.concat_ws(":", "l_source_system", "l_source_record_id").alias("left"),
    F.concat_ws(":", "r_source_system", "r_source_record_id").alias("right"),
    F.round("match_probability", 4).alias("probability"), "reason", "blocking_rule",
    F.array_join(terms, "; ").alias("explanation"),
).orderBy(F.desc("probability"), "left", "right").limit(limit).toPandas()
print(f"\n== {queue.where(F.col('status') == 'open').count()} open review items (showing {len(open_items)}) ==")
print(open_items.to_string(index=False))

# %% Each pair side by side
party = store.read(PARTY).select(F.concat_ws(":", "source_system", "source_record_id").alias("record"), "full_name",
                                 "email", "phone_e164", "address_line1", "postcode", "date_of_birth", "company")
shown = party.where(F.col("record").isin([*open_items["left"], *open_items["right"]])).toPandas().set_index("record")
for item in open_items.itertuples():
    print(f"\n-- {item.left}  vs  {item.right}  (p={item.probability}) --")
    print(shown.reindex([item.left, item.right]).T.to_string())

# %%
lake.close()
