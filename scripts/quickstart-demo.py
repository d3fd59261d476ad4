#!/usr/bin/env python3
"""Gives the quickstart's frontend something to render: a Directus collection `articles`
with one item, readable by the public role. Idempotent (an existing collection is left as it
is). Usage: quickstart-demo.py CMS_URL ADMIN_EMAIL ADMIN_PASSWORD_FILE"""
import json
import sys
import urllib.error
import urllib.request


def call(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("accept", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=20) as res:
            text = res.read()
            return res.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def main():
    base, email, password_file = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    with open(password_file, encoding="utf-8") as f:
        password = f.read().strip()
    status, login = call(base, "POST", "/auth/login", body={"email": email, "password": password})
    if status != 200:
        sys.exit(f"quickstart-demo: cannot log in to {base} as {email} (HTTP {status})")
    token = login["data"]["access_token"]
    status, _ = call(base, "GET", "/collections/articles", token)
    if status == 200:
        print("quickstart-demo: collection articles exists; left as it is")
        return
    fields = [
        {"field": "id", "type": "integer", "meta": {"hidden": True},
         "schema": {"is_primary_key": True, "has_auto_increment": True}},
        {"field": "title", "type": "string"},
    ]
    call(base, "POST", "/collections", token, {"collection": "articles", "schema": {}, "fields": fields})
    call(base, "POST", "/items/articles", token, {"title": "Hello from Directus"})
    _, policies = call(base, "GET", "/policies?fields=id,name", token)
    public = [p["id"] for p in (policies or {}).get("data", []) if p["name"] == "$t:public_label"]
    if public:
        call(base, "POST", "/permissions", token,
             {"policy": public[0], "collection": "articles", "action": "read", "fields": ["*"]})
    print("quickstart-demo: created collection articles with one item, readable by the public role")


if __name__ == "__main__":
    main()
