"""Third-party client conformance: the unmodified simple-salesforce library
(pinned in requirements.txt) against sfsim.

simple-salesforce builds https://<domain>.salesforce.com and https://<instance>
URLs, through requests (its own sessions and zeep's); the transport below
sends every one of them to sfsim's loopback listener over http. Nothing about
the library itself is changed.

Reads SFSIM_CREDS (the simulator's credentials as JSON); prints one line per
check and exits non-zero on the first failure.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import sys
import time
import urllib.parse

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
)

creds = json.loads(os.environ["SFSIM_CREDS"])
SIM = urllib.parse.urlsplit(creds["login_url"])


_send = HTTPAdapter.send


def to_sim(self, request, **kwargs):
    """Every https request of the process goes to the simulator, over http."""
    u = urllib.parse.urlsplit(request.url)
    if u.scheme == "https":
        request.url = urllib.parse.urlunsplit(("http", SIM.netloc, u.path, u.query, u.fragment))
    return _send(self, request, **kwargs)


HTTPAdapter.send = to_sim


def session():
    return requests.Session()


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""))
    if not ok:
        sys.exit(1)


VERSION = "59.0"
user, pw = creds["username"], creds["password"]
key, secret = creds["client_id"], creds["client_secret"]

# Logins: SOAP, password flow, JWT bearer, client credentials; the web
# server flow below.
sf = Salesforce(username=user, password=pw, security_token="", domain="login", session=session(), version=VERSION)
check("SOAP login", bool(sf.session_id))
pw_sf = Salesforce(username=user, password=pw, consumer_key=key, consumer_secret=secret, domain="login", session=session(), version=VERSION)
check("password flow", bool(pw_sf.session_id))
jwt_sf = Salesforce(username=user, consumer_key=key, privatekey=creds["jwt_private_key_pem"], domain="login", session=session(), version=VERSION)
check("JWT bearer", bool(jwt_sf.session_id))
# Client credentials needs a My Domain (the library refuses login/test).
cc_sf = Salesforce(consumer_key=key, consumer_secret=secret, domain="simorg.my", session=session(), version=VERSION)
check("client credentials", bool(cc_sf.session_id))

# Web server flow with PKCE, as an app's backend runs it (the library has no
# code flow of its own); the library then works with the token it got.
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
redirect = "http://localhost:8080/oauth/callback"
authorize = f"https://{SIM.netloc}/services/oauth2/authorize"
params = {
    "response_type": "code", "client_id": key, "redirect_uri": redirect, "scope": "api refresh_token",
    "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256",
}
web = session()
page = web.get(authorize, params=params, allow_redirects=False)
page = web.post(authorize, data=dict(params, step="login", username=user, pw=pw), allow_redirects=False)
if page.status_code == 200:
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.text).group(1)
    page = web.post(authorize, data=dict(params, step="consent", ticket=ticket, decision="allow"), allow_redirects=False)
location = page.headers.get("location", "")
code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [""])[0]
tok = web.post(f"https://{SIM.netloc}/services/oauth2/token", data={
    "grant_type": "authorization_code", "code": code, "client_id": key, "client_secret": secret,
    "redirect_uri": redirect, "code_verifier": verifier,
}).json()
check("web server flow with PKCE", "access_token" in tok and "refresh_token" in tok, f"{location} {tok}")
ws_sf = Salesforce(instance_url=tok["instance_url"], session_id=tok["access_token"], session=session(), version=VERSION)
check("the library works with the code flow's token", ws_sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1)

# The token list: the silent cap, then complete reads by Id and by CreatedDate.
total = sf.query("SELECT COUNT() FROM OauthToken")["totalSize"]
capped = sf.query_all("SELECT Id FROM OauthToken")["records"]
check("OauthToken stops at 2,500", len(capped) == min(total, 2500), f"{len(capped)} of {total}")
ids, last = [], None
while True:
    where = f" WHERE Id > '{last}'" if last else ""
    page = sf.query(f"SELECT Id FROM OauthToken{where} ORDER BY Id LIMIT 2000")["records"]
    if not page:
        break
    ids += [r["Id"] for r in page]
    last = page[-1]["Id"]
check("keyset by Id reads every token once", ids == sorted(set(ids)) and len(ids) == total, f"{len(set(ids))} of {total}")
seen, cursor = set(), None
while True:
    where = f" WHERE CreatedDate > {cursor[0]} OR (CreatedDate = {cursor[0]} AND Id > '{cursor[1]}')" if cursor else ""
    page = sf.query(f"SELECT Id, CreatedDate FROM OauthToken{where} ORDER BY CreatedDate, Id LIMIT 2000")["records"]
    if not page:
        break
    seen.update(r["Id"] for r in page)
    cursor = (page[-1]["CreatedDate"].replace("+0000", "Z"), page[-1]["Id"])
check("keyset by CreatedDate reads every token once", len(seen) == total, f"{len(seen)} of {total}")

# Describe and limits.
fields = sf.OauthToken.describe()["fields"]
check("describe", all("picklistValues" in f and len(f) >= 40 for f in fields))
check("limits", "DailyApiRequests" in sf.limits())

# Metadata: list and read connected apps, then block one and unblock it.
md = sf.mdapi
described = md.describe_metadata()
check("describeMetadata", any(o.xmlName == "BlacklistedConsumer" for o in described.metadataObjects))
apps = md.list_metadata([md.ListMetadataQuery(type="ConnectedApp")])
target = None
for a in apps:
    if "<" in a.fullName or "&" in a.fullName:
        continue
    app = md.ConnectedApp.read(a.fullName)
    if app is not None and app.oauthConfig is not None and app.oauthConfig.consumerKey != key:
        target = app
        break
check("read a connected app's consumer key", target is not None)
blocked = md.BlacklistedConsumer(
    fullName="Blocked_By_Python",
    consumerKey=target.oauthConfig.consumerKey,
    consumerName="Blocked_By_Python",
    masterLabel="Blocked by Python",
    blockedByApiWhitelisting=False,
)
md.BlacklistedConsumer.create([blocked])
got = md.BlacklistedConsumer.read("Blocked_By_Python")
check("createMetadata blocks", got is not None and got.consumerKey == target.oauthConfig.consumerKey)
# A blocked app's grants stay until revoked (they are refused meanwhile).
md.BlacklistedConsumer.delete(["Blocked_By_Python"])
listed = md.list_metadata([md.ListMetadataQuery(type="BlacklistedConsumer")])
check("deleteMetadata unblocks", all(b.fullName != "Blocked_By_Python" for b in listed))

# An admin tightens a connected app's policies: admin-approved users only,
# IP restrictions enforced; the update reads back.
target.oauthConfig.isAdminApproved = True
target.oauthPolicy.ipRelaxation = "ENFORCE"
md.ConnectedApp.update([target])
again = md.ConnectedApp.read(target.fullName)
check(
    "updateMetadata sets a connected app's OAuth policies",
    again.oauthConfig.isAdminApproved is True and again.oauthPolicy.ipRelaxation == "ENFORCE",
)
print(f"policies set on {target.oauthConfig.consumerKey}")

# Errors map to the library's exceptions.
try:
    sf.query("SELEC Id FROM User")
    check("a malformed query is refused", False)
except SalesforceMalformedRequest:
    check("a malformed query is refused", True)

# Revoke by form body and by query string; the sessions then fail.
http = session()
revoke = f"https://{SIM.netloc}/services/oauth2/revoke"
r = http.post(revoke, data={"token": pw_sf.session_id})
check("revoke by body", r.status_code == 200, r.text)
r = http.post(revoke, params={"token": jwt_sf.session_id})
check("revoke by query string", r.status_code == 200, r.text)
# (A client made from the session id alone: one that knows the password
# would quietly sign in again.)
for name, gone in [("body", pw_sf), ("query string", jwt_sf)]:
    bare = Salesforce(session_id=gone.session_id, instance=SIM.netloc, version=VERSION)
    try:
        bare.query("SELECT Id FROM User LIMIT 1")
        check(f"session revoked by {name} is refused", False)
    except SalesforceExpiredSession:
        check(f"session revoked by {name} is refused", True)
print("simple-salesforce: all checks passed")
