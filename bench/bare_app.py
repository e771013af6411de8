"""The baseline: a bare Flask app answering the same routes with no work behind them."""

from flask import Flask, jsonify, request

app = Flask("bare")


@app.get("/healthz")
def healthz():
    return jsonify(status="alive")


@app.post("/api/v1/billing/webhook")
def webhook():
    request.get_data()
    return jsonify(received=True)
