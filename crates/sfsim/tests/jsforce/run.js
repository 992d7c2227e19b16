// Drives the unmodified jsforce client against sfsim the way real tools do.
// Input: SFSIM_CREDS (the Credentials JSON). Output: one JSON line with findings.
'use strict';
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

  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`jsforce run failed: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
