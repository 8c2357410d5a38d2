// The deployment files say what Fulcrum does (run by check-manifests.sh):
//   node check-manifests.mjs FULCRUM_BIN kubernetes   deploy/kubernetes/
//   node check-manifests.mjs FULCRUM_BIN compose      docker/compose.yaml's replicas profile
// Every Kubernetes object is validated against the API's schemas (kubernetes-models, pinned in
// package-lock.json; they check types, required fields and enums, not unknown field names),
// then against what Fulcrum needs of it, with the values read from the embedded config rather
// than written here. Each config is run through `fulcrum check` with exactly the environment
// its container gets.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [fulcrum, mode] = process.argv.slice(2);
const problems = [];
let checks = 0;
// Records one assertion; `what` says what was expected, so a failure reads on its own.
function expect(ok, what) {
  checks += 1;
  if (!ok) problems.push(what);
  return ok;
}

function seconds(duration) {
  const m = /^(\d+)(ms|s|m|h)$/.exec(String(duration));
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}
function portOf(hostPort) {
  return Number(String(hostPort).slice(String(hostPort).lastIndexOf(':') + 1));
}
function isLoopback(hostPort) {
  const host = String(hostPort).slice(0, String(hostPort).lastIndexOf(':'));
  return ['127.0.0.1', 'localhost', '[::1]'].includes(host);
}
function dependsOn(service) {
  const needs = service.depends_on ?? [];
  return Array.isArray(needs) ? needs : Object.keys(needs);
}
function labelsMatch(selector, labels) {
  const pairs = Object.entries(selector ?? {});
  return pairs.length > 0 && pairs.every(([k, v]) => labels?.[k] === v);
}
// Every value of a key ending in _env, anywhere in a config: the variables it reads at start.
function envNames(node, found = new Set()) {
  if (Array.isArray(node)) node.forEach((item) => envNames(item, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key.endsWith('_env') && typeof value === 'string') found.add(value);
      else envNames(value, found);
    }
  }
  return found;
}

// `fulcrum check` on `text` with exactly `env`; it must say ok and count what the file holds.
function fulcrumCheck(label, text, env) {
  const scratch = mkdtempSync(join(tmpdir(), 'fulcrum-deploy-'));
  try {
    const file = join(scratch, 'fulcrum.yaml');
    writeFileSync(file, text);
    const run = spawnSync(fulcrum, ['check', file], { env, encoding: 'utf8' });
    const config = parse(text);
    const want = `: ok (${Object.keys(config.endpoints).length} endpoints, ` +
      `${Object.keys(config.models).length} models)`;
    expect(run.status === 0 && run.stdout.includes(want),
      `${label}: fulcrum check should exit 0 with "${want}", got ${run.status}:\n` +
      `${run.stdout}${run.stderr}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function checkKubernetes() {
  const dir = join(root, 'deploy', 'kubernetes');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  expect(kustomization.kind === 'Kustomization' &&
    kustomization.apiVersion === 'kustomize.config.k8s.io/v1beta1',
  'kustomization.yaml should be a kustomize.config.k8s.io/v1beta1 Kustomization');
  const listed = [...(kustomization.resources ?? [])].sort();
  const present = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
  expect(JSON.stringify(listed) === JSON.stringify(present),
    `kustomization.yaml resources ${listed} should be the directory's manifests ${present}`);

  const objects = [];
  for (const file of present) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (!expect(doc.errors.length === 0, `${file}: ${doc.errors.join('; ')}`)) continue;
      const object = doc.toJS();
      const where = `${file}: ${object.kind} ${object.metadata?.name}`;
      let models;
      try {
        models = await import(`kubernetes-models/${object.apiVersion}`);
      } catch {
        expect(false, `${where}: unknown apiVersion ${object.apiVersion}`);
        continue;
      }
      if (!expect(typeof models[object.kind] === 'function',
        `${where}: ${object.apiVersion} has no kind ${object.kind}`)) continue;
      let error = '';
      try {
        new models[object.kind](object).validate();
      } catch (e) {
        error = e.message;
      }
      expect(!error, `${where}: ${error}`);
      objects.push(object);
    }
  }
  const one = (kind) => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found.length === 1, `expected one ${kind}, found ${found.length}`);
    return found[0];
  };
  const [configMap, secret, deployment, service, pdb, hpa] = ['ConfigMap', 'Secret', 'Deployment',
    'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler'].map(one);
  if (problems.length) return;

  const pod = deployment.spec.template;
  const labels = pod.metadata.labels;
  expect(labelsMatch(deployment.spec.selector.matchLabels, labels),
    'the Deployment selector should match its pod template labels');
  expect(labelsMatch(service.spec.selector, labels), 'the Service should select the pods');
  expect(labelsMatch(pdb.spec.selector.matchLabels, labels),
    'the PodDisruptionBudget should select the pods');
  const ref = hpa.spec.scaleTargetRef;
  expect(ref.apiVersion === 'apps/v1' && ref.kind === 'Deployment' &&
    ref.name === deployment.metadata.name, 'the HPA should scale the Deployment');
  expect(hpa.spec.maxReplicas >= hpa.spec.minReplicas, 'HPA maxReplicas >= minReplicas');
  // A budget that allows no eviction would block every node drain.
  const replicas = deployment.spec.replicas;
  expect(pdb.spec.maxUnavailable >= 1 || pdb.spec.minAvailable < replicas,
    'the PodDisruptionBudget should allow one eviction');

  const container = pod.spec.containers.find((c) => (c.args ?? []).includes('--config'));
  if (!expect(container, 'a container should run fulcrum with --config')) return;
  const configPath = container.args[container.args.indexOf('--config') + 1];
  const mount = (container.volumeMounts ?? [])
    .find((m) => m.mountPath === posix.dirname(configPath));
  if (!expect(mount, `${posix.dirname(configPath)} (from --config) should be a volume mount`)) {
    return;
  }
  // With subPath, or items renaming keys, the kubelet never swaps `..data` in the watched
  // directory, and the pods never see an update.
  const configVolume = pod.spec.volumes.find((v) => v.name === mount.name);
  expect(!mount.subPath && configVolume?.configMap?.name === configMap.metadata.name &&
    !configVolume.configMap.items,
  'the config directory should be the whole ConfigMap, without subPath or items');
  const configText = configMap.data[posix.basename(configPath)];
  if (!expect(configText, `the ConfigMap should hold ${posix.basename(configPath)}`)) return;
  const config = parse(configText);
  const server = config.server ?? {};

  const containerPort = (port) => (typeof port === 'number' ? port
    : (container.ports ?? []).find((p) => p.name === port)?.containerPort);
  const exposed = (container.ports ?? []).map((p) => p.containerPort);
  const dataPort = portOf(server.listen ?? '0.0.0.0:8080');
  const adminPort = portOf(server.admin_listen ?? '127.0.0.1:9090');
  expect(exposed.includes(dataPort) && exposed.includes(adminPort),
    `the container should expose server.listen (${dataPort}) and admin_listen (${adminPort})`);
  // The kubelet probes the pod IP, and the Service forwards to it.
  expect(!isLoopback(server.listen ?? '0.0.0.0:8080') &&
    !isLoopback(server.admin_listen ?? '127.0.0.1:9090'),
  'server.listen and server.admin_listen should not be loopback in a pod');
  expect(Boolean(server.admin_token_env),
    'an admin listener reachable in the cluster should need server.admin_token_env');
  for (const [probe, path] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']]) {
    const get = container[probe]?.httpGet;
    expect(get?.path === path && containerPort(get.port) === adminPort,
      `${probe} should GET ${path} on the admin port ${adminPort}`);
  }
  const targets = service.spec.ports.map((p) => containerPort(p.targetPort ?? p.port));
  expect(targets.includes(dataPort) && targets.includes(adminPort) &&
    targets.every((t) => exposed.includes(t)),
  'the Service should forward to the data and admin ports, and only to exposed ones');

  // SIGKILL must not cut a drain short: preStop runs first, then the drain, then the
  // ledger's last commit (operations.md: exit within drain_timeout plus one second).
  const sleep = container.lifecycle?.preStop?.exec?.command;
  const preStop = sleep && posix.basename(sleep[0]) === 'sleep' ? Number(sleep[1]) : 0;
  const drain = seconds(server.drain_timeout ?? '30s');
  expect(pod.spec.terminationGracePeriodSeconds > preStop + drain + 1,
    `terminationGracePeriodSeconds (${pod.spec.terminationGracePeriodSeconds}) should exceed ` +
    `preStop ${preStop} s + drain_timeout ${drain} s + 1 s`);

  // Every variable the config reads comes from the Secret, under a key the Secret has.
  const secretValues = { ...secret.stringData };
  for (const [k, v] of Object.entries(secret.data ?? {})) {
    secretValues[k] = Buffer.from(v, 'base64').toString();
  }
  const env = { PATH: process.env.PATH };
  for (const entry of container.env ?? []) {
    const key = entry.valueFrom?.secretKeyRef;
    if (key) {
      expect(key.name === secret.metadata.name && key.key in secretValues,
        `env ${entry.name} should come from a key of the Secret ${secret.metadata.name}`);
      env[entry.name] = secretValues[key.key];
    } else if ('value' in entry) {
      env[entry.name] = entry.value;
    }
  }
  for (const name of envNames(config)) {
    expect(name in env, `the config reads ${name}, which the container's env should set`);
  }

  // A CPU utilization target is a share of the request: without one the HPA never scales.
  const scalesOnCpu = (hpa.spec.metrics ?? []).some((m) => m.type === 'Resource' &&
    m.resource?.name === 'cpu' && m.resource.target?.type === 'Utilization');
  expect(scalesOnCpu && container.resources?.requests?.cpu,
    'the HPA should scale on CPU utilization, against the container\'s CPU request');

  const security = { ...pod.spec.securityContext, ...container.securityContext };
  expect(security.runAsNonRoot === true && security.runAsUser > 0 &&
    security.readOnlyRootFilesystem === true,
  'the container should run as a numeric non-root user on a read-only root filesystem');
  // The ledger writes its SQLite file, WAL and journal beside ledger.path.
  if (config.ledger?.path) {
    const ledgerDir = posix.dirname(config.ledger.path);
    const ledgerMount = container.volumeMounts.find((m) => m.mountPath === ledgerDir);
    expect(posix.isAbsolute(config.ledger.path) && ledgerMount && !ledgerMount.readOnly &&
      pod.spec.volumes.find((v) => v.name === ledgerMount.name)?.emptyDir,
    `ledger.path's directory ${ledgerDir} should be a writable emptyDir mount`);
  }
  // server.threads 0 counts the node's cores, not the container's CPU limit.
  const cpu = String(container.resources?.limits?.cpu ?? '');
  const cpuLimit = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
  expect(server.threads >= 1 && server.threads <= Math.ceil(cpuLimit),
    `server.threads (${server.threads}) should be set, at most the CPU limit (${cpu})`);
  // Each pod's share while Redis is away is 1/state.replicas of every limit.
  expect(config.state?.redis && config.state.replicas === replicas &&
    hpa.spec.minReplicas === replicas,
  `state.replicas (${config.state?.replicas}), the Deployment's replicas (${replicas}) and ` +
  `the HPA's minReplicas (${hpa.spec.minReplicas}) should agree`);

  fulcrumCheck(`ConfigMap ${configMap.metadata.name}`, configText, env);
}

function checkCompose() {
  const composeFile = join(root, 'docker', 'compose.yaml');
  const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true });
  const services = compose.services;
  const replicas = Object.entries(services).filter(([, s]) => s.profiles?.includes('replicas'));
  expect(replicas.length > 0, 'compose.yaml should have services in the replicas profile');
  // Without --profile, compose refuses a default service that needs a profiled one.
  for (const [name, service] of Object.entries(services)) {
    if (service.profiles) continue;
    expect(dependsOn(service).every((n) => !services[n]?.profiles),
      `default service ${name} should not depend on a profiled service`);
  }
  // With --profile replicas, every service runs at once: no host port twice.
  const hostPorts = Object.values(services).flatMap((s) => (s.ports ?? [])
    .map((p) => String(p).split(':').slice(-2)[0]));
  expect(new Set(hostPorts).size === hostPorts.length, `host ports published twice: ${hostPorts}`);

  const byConfig = new Map();
  for (const [name, service] of replicas) {
    const args = service.command ?? [];
    if (!args.includes('--config')) continue;
    const path = args[args.indexOf('--config') + 1];
    const volume = (service.volumes ?? []).map((v) => String(v).split(':'))
      .find(([, target]) => target === posix.dirname(path));
    if (!expect(volume, `${name}: ${posix.dirname(path)} should be a mounted directory`)) continue;
    const file = join(dirname(composeFile), volume[0], posix.basename(path));
    byConfig.set(file, [...(byConfig.get(file) ?? []), [name, service]]);
  }
  expect(byConfig.size > 0, 'the replicas profile should run fulcrum with --config');
  for (const [file, runners] of byConfig) {
    const text = readFileSync(file, 'utf8');
    const config = parse(text);
    const server = config.server ?? {};
    const label = basename(file);
    expect(config.state?.replicas === runners.length,
      `${label}: state.replicas (${config.state?.replicas}) should be the ${runners.length} ` +
      'services that run it');
    const drain = seconds(server.drain_timeout ?? '30s');
    for (const [name, service] of runners) {
      const env = { PATH: process.env.PATH, ...service.environment };
      for (const variable of envNames(config)) {
        expect(variable in env, `${name}: the config reads ${variable}, unset in compose.yaml`);
      }
      // The shared state must be a service of this stack, started before the replica.
      const redisHost = config.state?.redis?.url_env
        ? /^redis:\/\/(?:[^@]*@)?([^:/]+)/.exec(env[config.state.redis.url_env] ?? '')?.[1]
        : undefined;
      expect(redisHost && services[redisHost] &&
        dependsOn(service).includes(redisHost),
      `${name}: the Redis host (${redisHost}) should be a service it depends on`);
      const published = (service.ports ?? []).map((p) => Number(String(p).split(':').at(-1)));
      expect(published.includes(portOf(server.listen ?? '0.0.0.0:8080')) &&
        published.includes(portOf(server.admin_listen ?? '127.0.0.1:9090')),
      `${name}: should publish the data and admin ports of ${label}`);
      expect(seconds(service.stop_grace_period ?? '10s') > drain + 1,
        `${name}: stop_grace_period should exceed drain_timeout (${drain} s) + 1 s`);
      fulcrumCheck(`${name} (${label})`, text, env);
    }
  }
}

if (mode === 'kubernetes') await checkKubernetes();
else if (mode === 'compose') checkCompose();
else {
  console.error('usage: check-manifests.mjs FULCRUM_BIN kubernetes|compose');
  process.exit(2);
}
for (const problem of problems) console.log(`deploy: ${problem}`);
console.log(`${mode}: ${checks - problems.length} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
