#!/usr/bin/env node
/**
 * Runs first in `npm test`: the suite needs four programs besides Node — Debian's Chromium
 * (browser tests; playwright-core downloads no browser), the PostgreSQL server (the `postgres`
 * and `multinode` projects), redis-server (the `multinode` project and the Redis tests) and
 * rabbitmq-server (the RabbitMQ bridge's tests).
 *
 * - All there: exits 0 at once (file checks only, no process started).
 * - Some missing, and apt-get can run as root or with passwordless `sudo -n`: installs them as
 *   .ci/run used to (`apt-get update -qq`, then a quiet, non-interactive `apt-get install -y`).
 * - Some missing, no way to install them: stops with one line naming the command to run.
 * - TANDEM_SKIP_SYSTEM_CHECK=1 (not honoured when CI=true: CI runs every suite): installs
 *   nothing, says what is missing, and vitest.config.ts leaves out the tests that need it.
 *
 * Plain Node ESM with no dependencies: it runs before anything else is known to work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** @typedef {'chromium' | 'postgresql' | 'redis-server' | 'rabbitmq-server'} Need  What the suite needs, by its Debian package name. */

/** @type {readonly Need[]} */
export const NEEDS = ['chromium', 'postgresql', 'redis-server', 'rabbitmq-server'];

/** Debian's broker script, run directly (its /usr/sbin wrapper switches to the rabbitmq user). */
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export const SKIP_VARIABLE = 'TANDEM_SKIP_SYSTEM_CHECK';

/**
 * What the machine offers, injected so that the decision can be tested without one.
 * @typedef {object} MachineProbe
 * @property {(need: Need) => boolean} has
 * @property {boolean} isRoot
 * @property {() => boolean} canSudo  Asked only when something is missing and the user is not root.
 * @property {boolean} hasAptGet
 * @property {boolean} skip  TANDEM_SKIP_SYSTEM_CHECK is set.
 * @property {boolean} ci  CI=true: every suite runs, the escape hatch is ignored.
 */

/**
 * @typedef {{ kind: 'ready' }
 *   | { kind: 'install', packages: Need[], commands: string[][] }
 *   | { kind: 'skip', missing: Need[], message: string }
 *   | { kind: 'stop', missing: Need[], message: string }} MachinePlan
 */

/** @param {Need[]} missing */
function naming(missing) {
  return missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
}

/**
 * Quiet and non-interactive. DEBIAN_FRONTEND goes through `env`: sudo drops the caller's environment.
 * @param {Need[]} packages
 * @param {string[]} sudo
 */
function aptGetInstall(packages, sudo) {
  const aptGet = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
  return [
    [...aptGet, 'update', '-qq'],
    [...aptGet, 'install', '-y', '-qq', ...packages],
  ];
}

/**
 * What `npm test` does about the machine: nothing, install, go on without, or stop.
 * @param {MachineProbe} probe
 * @returns {MachinePlan}
 */
export function planMachine(probe) {
  const missing = NEEDS.filter((need) => !probe.has(need));
  if (missing.length === 0) return { kind: 'ready' };
  if (probe.skip && !probe.ci) {
    return { kind: 'skip', missing, message: `${SKIP_VARIABLE} is set: the tests that need ${naming(missing)} are left out (not found on this machine).` };
  }
  if (probe.hasAptGet && probe.isRoot) return { kind: 'install', packages: missing, commands: aptGetInstall(missing, []) };
  if (probe.hasAptGet && probe.canSudo()) return { kind: 'install', packages: missing, commands: aptGetInstall(missing, ['sudo', '-n']) };
  const command = `sudo apt-get install -y ${missing.join(' ')}`;
  const how = probe.hasAptGet ? `run ${command}` : `install them with your package manager, as on Debian: ${command}`;
  return { kind: 'stop', missing, message: `npm test needs ${naming(missing)}: ${how} (or set ${SKIP_VARIABLE}=1 to run what can run)` };
}

/** @param {string} name */
function pathDirsWith(name) {
  return (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '' && existsSync(path.join(dir, name)));
}

/** @param {string} name */
function onPath(name) {
  return pathDirsWith(name).length > 0;
}

/** Where tests/helpers/browser.ts looks for Chromium. */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium';
}

/**
 * The PostgreSQL server's programs (initdb, pg_ctl): Debian's newest /usr/lib/postgresql/<version>/bin,
 * else initdb's folder on PATH (other distributions, Homebrew). tests/helpers/postgres.ts runs them from here.
 * @returns {string | undefined}
 */
export function findPostgresBinDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const debian = versions.map((version) => path.join(root, version, 'bin')).find((dir) => existsSync(path.join(dir, 'initdb')));
  return debian ?? pathDirsWith('initdb')[0];
}

/**
 * Whether this machine has what the tests need (file checks only: a few milliseconds).
 * @param {Need} need
 */
export function hasOnMachine(need) {
  switch (need) {
    case 'chromium':
      return existsSync(chromiumPath());
    case 'postgresql':
      return findPostgresBinDir() !== undefined;
    case 'redis-server':
      return onPath('redis-server');
    case 'rabbitmq-server':
      return existsSync(RABBITMQ_SERVER);
  }
}

/** TANDEM_SKIP_SYSTEM_CHECK is set (to anything but 0). */
function isSkipSet(env = process.env) {
  return Boolean(env[SKIP_VARIABLE]) && env[SKIP_VARIABLE] !== '0';
}

/**
 * What vitest.config.ts leaves out the tests of: what is missing here when the escape hatch is
 * set outside CI; otherwise nothing (every test runs; this script made sure they can).
 * @returns {Need[]}
 */
export function leftOutNeeds(env = process.env) {
  return isSkipSet(env) && env.CI !== 'true' ? NEEDS.filter((need) => !hasOnMachine(need)) : [];
}

/** @returns {MachineProbe} */
function probeMachine() {
  return {
    has: hasOnMachine,
    isRoot: process.getuid?.() === 0,
    canSudo: () => onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0,
    hasAptGet: onPath('apt-get'),
    skip: isSkipSet(),
    ci: process.env.CI === 'true',
  };
}

/**
 * @param {string[]} command
 * @returns {string | null} the error output when it fails
 */
function run(command) {
  const [file, ...args] = command;
  const result = spawnSync(/** @type {string} */ (file), args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.status === 0) return null;
  return `${command.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})${result.stderr ? `:\n${result.stderr.trim()}` : ''}`;
}

function main() {
  const probe = probeMachine();
  const plan = planMachine(probe);
  if (plan.kind === 'ready') return 0;
  if (plan.kind === 'skip') {
    console.warn(plan.message);
    return 0;
  }
  if (plan.kind === 'stop') {
    console.error(plan.message);
    return 1;
  }
  console.error(`npm test needs ${naming(plan.packages)}: ${plan.commands.map((command) => command.join(' ')).join(' && ')}`);
  for (const command of plan.commands) {
    const failure = run(command);
    if (failure) {
      console.error(failure);
      return 1;
    }
  }
  const still = NEEDS.filter((need) => !probe.has(need));
  if (still.length > 0) {
    const chromium = still.includes('chromium') && process.env.CHROMIUM_PATH ? ` (CHROMIUM_PATH=${process.env.CHROMIUM_PATH})` : '';
    console.error(`npm test needs ${naming(still)}${chromium}: still not found after apt-get install`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
