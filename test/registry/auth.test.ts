// Authentication against the real registry: htpasswd (Basic) and token auth (Bearer JWTs from an issuer the
// test runs), docker's config.json and credential helpers, login/logout, and secrets kept out of output.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseChallenges } from '../../src/registry/auth.js';
import { tsoci } from '../helpers/cli.js';
import { buildImage } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-auth-'));
let basicReg: Registry;
let tokenReg: Registry;

function env(name: string): Record<string, string> {
  const dir = path.join(tmp, name);
  return { DOCKER_CONFIG: path.join(dir, 'docker'), TSOCI_ROOT: path.join(dir, 'root') };
}

before(async () => {
  const img = await buildImage({ layers: [[{ name: 'secret.txt', content: 'private' }]] });
  basicReg = await startRegistry({ auth: 'htpasswd' });
  tokenReg = await startRegistry({ auth: 'token' });
  await pushImage(basicReg, 'private/app', 'v1', img);
  await pushImage(tokenReg, 'private/app', 'v1', img);
});

after(async () => {
  await basicReg.stop();
  await tokenReg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('WWW-Authenticate parsing', () => {
  it('keeps commas inside quoted scopes and reads several challenges', () => {
    const chs = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push", Basic realm="x"');
    assert.equal(chs.length, 2);
    assert.deepEqual(chs[0], { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } });
    assert.deepEqual(chs[1], { scheme: 'basic', params: { realm: 'x' } });
  });
});

for (const kind of ['htpasswd', 'token'] as const) {
  describe(`${kind} auth`, () => {
    const reg = () => (kind === 'htpasswd' ? basicReg : tokenReg);

    it('refuses an anonymous pull with one line that says to log in', async () => {
      const e = env(`${kind}-anon`);
      const r = await tsoci(['pull', `${reg().host}/private/app:v1`], { env: e });
      assert.equal(r.code, 125);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /tsoci login/);
      assert.match(r.stderr, /UNAUTHORIZED/);
    });

    it('logs in, pulls with the stored credentials, and logs out', async () => {
      const e = env(`${kind}-login`);
      const login = await tsoci(['login', reg().host, '-u', reg().user!, '--password-stdin'], { env: e, input: `${reg().password}\n` });
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login Succeeded/);
      const cfgFile = path.join(e.DOCKER_CONFIG!, 'config.json');
      const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
      assert.equal(Buffer.from(cfg.auths[reg().host].auth, 'base64').toString(), `${reg().user}:${reg().password}`);
      const pull = await tsoci(['pull', `${reg().host}/private/app:v1`], { env: e });
      assert.equal(pull.code, 0, pull.stderr);
      for (const out of [login.stdout, login.stderr, pull.stdout, pull.stderr]) assert.ok(!out.includes(reg().password!), 'password never printed');
      const logout = await tsoci(['logout', reg().host], { env: e });
      assert.equal(logout.code, 0);
      assert.equal(JSON.parse(readFileSync(cfgFile, 'utf8')).auths[reg().host], undefined);
      const again = await tsoci(['pull', `${reg().host}/private/app:v1`], { env: { ...e, TSOCI_ROOT: path.join(tmp, `${kind}-again`) } });
      assert.equal(again.code, 125);
    });

    it('rejects a wrong password at login without echoing it', async () => {
      const e = env(`${kind}-wrong`);
      const r = await tsoci(['login', reg().host, '-u', reg().user!, '--password-stdin'], { env: e, input: 'not-the-password-42' });
      assert.equal(r.code, 125);
      assert.match(r.stderr, /UNAUTHORIZED/);
      assert.ok(!r.stderr.includes('not-the-password-42') && !r.stdout.includes('not-the-password-42'));
    });

    it('uses credentials from a docker credential helper', async () => {
      const e = env(`${kind}-helper`);
      const binDir = path.join(tmp, `${kind}-bin`);
      const helper = path.join(binDir, 'docker-credential-tsocitest');
      rmSync(binDir, { recursive: true, force: true });
      writeFileSync(path.join(tmp, `${kind}-placeholder`), '');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(binDir, { recursive: true });
      mkdirSync(e.DOCKER_CONFIG!, { recursive: true });
      const seen = path.join(binDir, 'env-seen');
      writeFileSync(helper, `#!/bin/sh\nprintf '%s|%s' "\${NODE_EXTRA_CA_CERTS-unset}" "\${TSOCI_NODE_EXTRA_CA_CERTS-unset}" > ${seen}\nread server\n[ "$1" = get ] && [ "$server" = "${reg().host}" ] && printf '{"ServerURL":"%s","Username":"${reg().user}","Secret":"${reg().password}"}' "$server" && exit 0\necho "credentials not found in native keychain"; exit 1\n`);
      chmodSync(helper, 0o755);
      writeFileSync(path.join(e.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ credHelpers: { [reg().host]: 'tsocitest' } }));
      const r = await tsoci(['pull', `${reg().host}/private/app:v1`], { env: { ...e, PATH: `${binDir}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' } });
      assert.equal(r.code, 0, r.stderr);
      // bin/tsoci hands NODE_EXTRA_CA_CERTS over past Node's start-up; what tsoci runs sees it as it was.
      assert.equal(readFileSync(seen, 'utf8'), '/etc/ssl/certs/ca-certificates.crt|unset');
    });
  });
}

describe('bearer tokens', () => {
  it('are fetched once per scope and reused for every blob of a pull', async () => {
    const e = env('token-reuse');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(e.DOCKER_CONFIG!, { recursive: true });
    writeFileSync(path.join(e.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from(`${tokenReg.user}:${tokenReg.password}`).toString('base64') } } }));
    const before = tokenReg.issuer!.requests.length;
    const r = await tsoci(['pull', `${tokenReg.host}/private/app:v1`], { env: e });
    assert.equal(r.code, 0, r.stderr);
    const reqs = tokenReg.issuer!.requests.slice(before);
    assert.equal(reqs.length, 1, JSON.stringify(reqs));
    assert.deepEqual(reqs[0]!.scope, ['repository:private/app:pull']);
    assert.equal(reqs[0]!.authorized, true);
  });
});
