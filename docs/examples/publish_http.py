#!/usr/bin/env python3
"""Publishes one event with POST /v1/publish: Python's standard library only.

  TAILGATE_URL=http://127.0.0.1:8080 TAILGATE_TOKEN=... python3 publish_http.py orders.42 '{"n":1}'
"""
import json, os, sys, urllib.error, urllib.request

url = os.environ.get("TAILGATE_URL", "http://127.0.0.1:8080") + "/v1/publish"
topic, data = sys.argv[1], sys.argv[2]
body = json.dumps({"topic": topic, "type": "created", "data": data,
                   "idempotency_key": f"{topic}-created"}).encode()
headers = {"Content-Type": "application/json"}
if os.environ.get("TAILGATE_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["TAILGATE_TOKEN"]
try:
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as r:
        print(json.load(r))                      # {'id': 17, 'duplicate': False}
except urllib.error.HTTPError as e:            # 4xx/5xx: {"error":{"code":..,"message":..}}
    sys.exit(f"{e.code} {json.load(e)['error']['message']}")
