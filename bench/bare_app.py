"""The baseline: a bare Flask app answering the same routes with no work behind them."""

import os

import redis
from flask import Flask, jsonify, request

from adapters.redis_scripts import CONSUME

app = Flask("bare")
_redis = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"))
_consume = _redis.register_script(CONSUME)
KEYS = ["quota:{bare}:window", "quota:{bare}:c:queries", "quota:{bare}:i:-"]
KEYS += ["quota:{bare}:ledger", "quota:{bare}:marks", "quota:{bare}:c:stt_words", "quota:pending"]
# The same state the service's counter has: an unlimited window and a counter for its period.
_redis.hset(KEYS[0], mapping={"start": 0, "end": 2**50, "limit:queries": -1})
_redis.hset(KEYS[1], mapping={"period": 0, "used": 0})


@app.get("/healthz")
def healthz():
    return jsonify(status="alive")


@app.post("/api/v1/billing/webhook")
def webhook():
    request.get_data()
    return jsonify(received=True)


@app.post("/api/v1/quota/consume")
def consume():
    """One EVALSHA of the service's own script with fixed arguments, nothing else."""
    request.get_data()
    reply = _consume(keys=KEYS, args=["consume", "queries", 1, 1, "", 1, "bare", "0", 0, "0"])
    return jsonify(allowed=reply[0] == b"ok")
