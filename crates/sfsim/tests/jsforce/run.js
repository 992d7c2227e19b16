// Drives the unmodified jsforce client against sfsim the way real tools do.
// Input: SFSIM_CREDS (the Credentials JSON). Output: one JSON line with findings.
'use strict';
const crypto = require('crypto');
const jsforce = require('jsforce');

const VERSION = '64.0';

async function main() {
  const c = JSON.parse(process.env.SFSIM_CREDS);
  const out = {};

  // 1. Default login: SOAP partner login with username + password.
  const conn = new jsforce.Connection({ loginUrl: c.login_url, version: VERSION });
  const info = await conn.login(c.username, c.password);
  out.orgId = info.organizationId;
  out.instanceUrl = conn.instanceUrl;

  // 2. Count first, as the Object Reference recommends for OauthToken.
  const count = await conn.query('SELECT COUNT() FROM OauthToken');
  out.count = count.totalSize;

  // 3. A naive full fetch stops silently at the 2,500-row cap.
  const naive = await conn.query('SELECT Id FROM OauthToken', { autoFetch: true, maxFetch: 1000000 });
  out.naive = naive.records.length;
  out.naiveTotalSize = naive.totalSize;

  // 4. Split by CreatedDate ranges (sfdx-hardis style).
  const byDate = new Set();
  let last = null;
  for (;;) {
    const where = last ? ` WHERE CreatedDate > ${last}` : '';
    const res = await conn.query(
      `SELECT Id, CreatedDate FROM OauthToken${where} ORDER BY CreatedDate LIMIT 2000`,
      { autoFetch: true, maxFetch: 2000 },
    );
    if (res.records.length === 0) break;
    for (const r of res.records) byDate.add(r.Id);
    last = res.records[res.records.length - 1].CreatedDate.replace('+0000', 'Z');
  }
  out.byDate = byDate.size;

  // 5. Split by user batches (j-schreiber style).
  const users = await conn.query('SELECT Id FROM User', { autoFetch: true, maxFetch: 1000000 });
  const byUser = new Set();
  for (let i = 0; i < users.records.length; i += 100) {
    const ids = users.records.slice(i, i + 100).map((u) => `'${u.Id}'`).join(',');
    const res = await conn.query(`SELECT Id, AppName, User.Name FROM OauthToken WHERE UserId IN (${ids})`, {
      autoFetch: true,
      maxFetch: 1000000,
    });
    for (const r of res.records) byUser.add(r.Id);
  }
  out.byUser = byUser.size;

  // 6. Revoke one token by its DeleteToken, then re-query.
  const one = await conn.query('SELECT Id, DeleteToken, AppName FROM OauthToken ORDER BY CreatedDate DESC LIMIT 1');
  const victim = one.records[0];
  await conn.oauth2.revokeToken(victim.DeleteToken);
  const after = await conn.query(`SELECT COUNT() FROM OauthToken WHERE Id = '${victim.Id}'`);
  out.revokedId = victim.Id;
  out.revokedStillThere = after.totalSize;

  // 7. OAuth2 username-password flow through jsforce's OAuth2 client.
  const conn2 = new jsforce.Connection({
    oauth2: { loginUrl: c.login_url, clientId: c.client_id, clientSecret: c.client_secret, redirectUri: 'http://localhost:1717/callback' },
    version: VERSION,
  });
  await conn2.login(c.username, c.password);
  const ident = await conn2.identity();
  out.oauthUsername = ident.username;
  const limits = await conn2.limits();
  out.dailyMax = limits.DailyApiRequests.Max;

  // 8. Complete read by Id keyset (ascending Id order across pages).
  const byId = [];
  let lastId = null;
  for (;;) {
    const where = lastId ? ` WHERE Id > '${lastId}'` : '';
    const res = await conn.query(`SELECT Id FROM OauthToken${where} ORDER BY Id LIMIT 2000`, { autoFetch: true, maxFetch: 2000 });
    if (res.records.length === 0) break;
    for (const r of res.records) byId.push(r.Id);
    lastId = res.records[res.records.length - 1].Id;
  }
  out.byId = new Set(byId).size;
  out.byIdSorted = byId.every((id, i) => i === 0 || byId[i - 1] < id);

  // 9. Describe, as the library returns it.
  const d = await conn.sobject('OauthToken').describe();
  out.describeKeys = Math.min(...d.fields.map((f) => Object.keys(f).length));
  out.describePicklists = d.fields.every((f) => Array.isArray(f.picklistValues));

  // 10. Metadata: read a connected app's consumer key, block it, unblock it.
  const listed = [].concat(await conn.metadata.list({ type: 'ConnectedApp' }, VERSION));
  let target = null;
  for (const m of listed) {
    if (/[<&]/.test(m.fullName)) continue;
    const app = await conn.metadata.read('ConnectedApp', m.fullName);
    if (app && app.oauthConfig && app.oauthConfig.consumerKey && app.oauthConfig.consumerKey !== c.client_id) {
      target = app;
      break;
    }
  }
  out.blockTargetKey = target.oauthConfig.consumerKey;
  const created = await conn.metadata.create('BlacklistedConsumer', {
    fullName: 'Blocked_By_Jsforce',
    consumerKey: target.oauthConfig.consumerKey,
    consumerName: 'Blocked_By_Jsforce',
    masterLabel: 'Blocked by jsforce',
    blockedByApiWhitelisting: false,
  });
  out.blockCreated = [].concat(created)[0].success === true || [].concat(created)[0].success === 'true';
  const blocked = [].concat(await conn.metadata.list({ type: 'BlacklistedConsumer' }, VERSION));
  out.blockListed = blocked.some((b) => b.fullName === 'Blocked_By_Jsforce');
  await conn.metadata.delete('BlacklistedConsumer', 'Blocked_By_Jsforce');
  const after2 = [].concat(await conn.metadata.list({ type: 'BlacklistedConsumer' }, VERSION));
  out.unblocked = !after2.some((b) => b.fullName === 'Blocked_By_Jsforce');

  // 11. JWT bearer through jsforce's OAuth2 client (the assertion signed here).
  const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
  const audience = c.sandbox ? 'https://test.salesforce.com' : 'https://login.salesforce.com';
  const unsigned = `${b64({ alg: 'RS256' })}.${b64({ iss: c.client_id, sub: c.username, aud: audience, exp: Math.floor(Date.now() / 1000) + 180 })}`;
  const assertion = `${unsigned}.${crypto.sign('RSA-SHA256', Buffer.from(unsigned), c.jwt_private_key_pem).toString('base64url')}`;
  const jwtConn = new jsforce.Connection({ oauth2: { loginUrl: c.login_url, clientId: c.client_id }, version: VERSION });
  await jwtConn.authorize({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
  out.jwtUsername = (await jwtConn.identity()).username;

  // 12. Web server flow with PKCE: jsforce builds the URL and exchanges the
  // code; the login and consent pages are walked as a browser would.
  const verifier = crypto.randomBytes(48).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://localhost:8080/oauth/callback';
  const wsConn = new jsforce.Connection({
    oauth2: { loginUrl: c.login_url, clientId: c.client_id, clientSecret: c.client_secret, redirectUri },
    version: VERSION,
  });
  const authUrl = new URL(wsConn.oauth2.getAuthorizationUrl({
    scope: 'api refresh_token', state: 's1', code_challenge: challenge, code_challenge_method: 'S256',
  }));
  const params = Object.fromEntries(authUrl.searchParams);
  const post = (extra) => fetch(`${c.login_url}/services/oauth2/authorize`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams({ ...params, ...extra }),
  });
  await fetch(authUrl, { redirect: 'manual' });
  let page = await post({ step: 'login', username: c.username, pw: c.password });
  if (page.status === 200) {
    const ticket = /name="ticket" value="([^"]+)"/.exec(await page.text())[1];
    page = await post({ step: 'consent', ticket, decision: 'allow' });
  }
  const code = new URL(page.headers.get('location')).searchParams.get('code');
  await wsConn.authorize(code, { code_verifier: verifier });
  out.webServerUsername = (await wsConn.identity()).username;
  out.webServerRefresh = Boolean(wsConn.refreshToken);

  // 13. Revoke by query string (no body), then the session is refused.
  const revoked = await fetch(`${c.login_url}/services/oauth2/revoke?token=${encodeURIComponent(jwtConn.accessToken)}`, { method: 'POST' });
  out.revokeByQuery = revoked.status;
  // jsforce answers a refused session by trying to refresh it; the raw call shows the refusal.
  const refused = await fetch(`${jwtConn.instanceUrl}/services/data/v${VERSION}/limits`, {
    headers: { Authorization: `Bearer ${jwtConn.accessToken}` },
  });
  const refusedBody = await refused.json();
  out.revokedSessionRefused = refused.status === 401 && refusedBody[0].errorCode === 'INVALID_SESSION_ID';

  // 14. Error mapping: a malformed query.
  try {
    await conn.query('SELEC Id FROM User');
    out.malformed = 'accepted';
  } catch (e) {
    out.malformed = e.errorCode || e.name;
  }

  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`jsforce run failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
