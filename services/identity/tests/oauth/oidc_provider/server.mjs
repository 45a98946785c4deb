// A real OpenID Connect provider (npm `oidc-provider`, certified) for the identity OAuth tests.
//
// Started by the tests on loopback: `node server.mjs` with PORT and CLIENTS (JSON) in the environment;
// prints `ready <issuer>` once it listens. Its dev interactions (any login, any password, then a consent
// form) are driven by the tests as a browser would. The login is the account id; the account's email is
// the login itself, so a test signs in as "alice@example.test".
//
// Apple's two quirks are reproduced for clients marked `apple: {...}`:
//   - the client secret is an ES256 JWT signed with the app's .p8 key (iss = team id, sub = client id,
//     aud = issuer, kid = key id): verified here before the provider sees the request;
//   - the user's name is posted as a `user` form field on the first authorization of an account only.
import http from 'node:http';
import querystring from 'node:querystring';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.CLIENTS);

const appleClients = new Map(clients.filter((c) => c.apple).map((c) => [c.client_id, c]));
const namedOnce = new Set(); // accounts whose name was already sent to an Apple client

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'harness-rs256', alg: 'RS256', use: 'sig' };

function accountClaims(accountId) {
  const email = accountId.includes('@') ? accountId : `${accountId}@example.test`;
  const [first] = email.split('@');
  return {
    sub: accountId,
    email,
    // A login starting with "unverified" stands for an address the provider never verified.
    email_verified: !accountId.startsWith('unverified'),
    xms_edov: !accountId.startsWith('unverified'), // Entra ID: the email's domain is verified
    name: `${first[0].toUpperCase()}${first.slice(1)} Tester`,
    given_name: `${first[0].toUpperCase()}${first.slice(1)}`,
    family_name: 'Tester',
  };
}

const provider = new Provider(issuer, {
  clients: clients.map(({ apple, ...client }) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: ['harness-cookie-key-0123456789'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified', 'xms_edov'],
    profile: ['name', 'given_name', 'family_name'],
  },
  conformIdTokenClaims: false, // put the scope's claims in the id token, as Google, Entra and Apple do
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return accountClaims(sub); } };
  },
});

provider.use(async (ctx, next) => {
  await next();
  const client = ctx.oidc?.client;
  const accountId = ctx.oidc?.session?.accountId;
  const isFormPost = typeof ctx.body === 'string' && ctx.body.includes('name="code"');
  if (!client || !accountId || !isFormPost || !appleClients.has(client.clientId) || namedOnce.has(accountId)) {
    return;
  }
  namedOnce.add(accountId);
  const claims = accountClaims(accountId);
  const user = JSON.stringify({
    name: { firstName: claims.given_name, lastName: claims.family_name },
    email: claims.email,
  });
  const escaped = user.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
  ctx.body = ctx.body.replace('<noscript>', `<input type="hidden" name="user" value="${escaped}"/>\n<noscript>`);
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Apple's client secret: verify the ES256 JWT, then hand the provider the secret it has registered.
async function appleClientSecret(req) {
  const body = querystring.parse(await readBody(req));
  const client = appleClients.get(body.client_id);
  if (client) {
    const key = await jose.importJWK(client.apple.public_jwk, 'ES256');
    try {
      const { protectedHeader } = await jose.jwtVerify(String(body.client_secret), key, {
        issuer: client.apple.team_id,
        subject: client.client_id,
        audience: issuer,
        algorithms: ['ES256'],
        requiredClaims: ['iat', 'exp'],
      });
      if (protectedHeader.kid !== client.apple.key_id) throw new Error('wrong kid');
      body.client_secret = client.client_secret;
    } catch (error) {
      console.error(`apple client secret refused: ${error.message}`);
      body.client_secret = 'refused';
    }
  }
  req.body = body; // oidc-provider reads an already parsed body from req.body
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/token')) {
    await appleClientSecret(req);
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
