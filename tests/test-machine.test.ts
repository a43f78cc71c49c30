import { describe, expect, it } from 'vitest';
import { leftOutNeeds, NEEDS, planMachine, type MachineProbe, type Need } from '../scripts/test-machine.mjs';

/** A machine with `present` installed; asking for sudo counts, so the tests see when it is asked. */
function machine(present: readonly Need[], options: Partial<Omit<MachineProbe, 'has' | 'canSudo'>> & { sudo?: boolean } = {}) {
  const { sudo = false, ...rest } = options;
  let sudoAsked = 0;
  const probe: MachineProbe = {
    has: (need) => present.includes(need),
    isRoot: false,
    canSudo: () => {
      sudoAsked++;
      return sudo;
    },
    hasAptGet: true,
    skip: false,
    ci: false,
    ...rest,
  };
  return { probe, sudoAsked: () => sudoAsked };
}

describe('npm test on this machine (scripts/test-machine.mjs)', () => {
  it('goes on at once when everything is there, whatever else holds', () => {
    for (const options of [{}, { isRoot: true }, { hasAptGet: false }, { skip: true }, { ci: true }]) {
      const { probe, sudoAsked } = machine(NEEDS, options);
      expect(planMachine(probe)).toEqual({ kind: 'ready' });
      expect(sudoAsked()).toBe(0);
    }
  });

  it('installs only what is missing with apt-get as root, without asking for sudo', () => {
    const { probe, sudoAsked } = machine(['postgresql', 'rabbitmq-server'], { isRoot: true });
    expect(planMachine(probe)).toEqual({
      kind: 'install',
      packages: ['chromium', 'redis-server'],
      commands: [
        ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq'],
        ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'chromium', 'redis-server'],
      ],
    });
    expect(sudoAsked()).toBe(0);
  });

  it('installs with sudo when it needs no password', () => {
    const { probe, sudoAsked } = machine(['chromium', 'redis-server', 'rabbitmq-server'], { sudo: true });
    expect(planMachine(probe)).toEqual({
      kind: 'install',
      packages: ['postgresql'],
      commands: [
        ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq'],
        ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'postgresql'],
      ],
    });
    expect(sudoAsked()).toBe(1);
  });

  it('stops with one line naming the command when it cannot install', () => {
    const plan = planMachine(machine([]).probe);
    expect(plan).toEqual({
      kind: 'stop',
      missing: ['chromium', 'postgresql', 'redis-server', 'rabbitmq-server'],
      message:
        'npm test needs chromium, postgresql, redis-server and rabbitmq-server: run sudo apt-get install -y chromium postgresql redis-server rabbitmq-server (or set TANDEM_SKIP_SYSTEM_CHECK=1 to run what can run)',
    });
    if (plan.kind === 'stop') expect(plan.message).not.toContain('\n');
  });

  it('names one missing program alone', () => {
    expect(planMachine(machine(['chromium', 'postgresql', 'rabbitmq-server']).probe)).toMatchObject({
      kind: 'stop',
      message: 'npm test needs redis-server: run sudo apt-get install -y redis-server (or set TANDEM_SKIP_SYSTEM_CHECK=1 to run what can run)',
    });
  });

  it('without apt-get, stops even as root and points to the package manager', () => {
    const { probe, sudoAsked } = machine(['chromium', 'rabbitmq-server'], { isRoot: true, hasAptGet: false, sudo: true });
    expect(planMachine(probe)).toMatchObject({
      kind: 'stop',
      missing: ['postgresql', 'redis-server'],
      message:
        'npm test needs postgresql and redis-server: install them with your package manager, as on Debian: sudo apt-get install -y postgresql redis-server (or set TANDEM_SKIP_SYSTEM_CHECK=1 to run what can run)',
    });
    expect(sudoAsked()).toBe(0);
  });

  it('with TANDEM_SKIP_SYSTEM_CHECK installs nothing and goes on without what is missing', () => {
    const { probe, sudoAsked } = machine(['postgresql', 'rabbitmq-server'], { isRoot: true, skip: true });
    expect(planMachine(probe)).toEqual({
      kind: 'skip',
      missing: ['chromium', 'redis-server'],
      message: 'TANDEM_SKIP_SYSTEM_CHECK is set: the tests that need chromium and redis-server are left out (not found on this machine).',
    });
    expect(sudoAsked()).toBe(0);
  });

  it('in CI ignores TANDEM_SKIP_SYSTEM_CHECK: every suite runs, so it installs or stops', () => {
    expect(planMachine(machine([], { isRoot: true, skip: true, ci: true }).probe)).toMatchObject({ kind: 'install', packages: NEEDS });
    expect(planMachine(machine([], { skip: true, ci: true }).probe)).toMatchObject({ kind: 'stop' });
  });

  it('lets vitest.config.ts leave tests out only when the escape hatch is set outside CI', () => {
    for (const env of [{}, { TANDEM_SKIP_SYSTEM_CHECK: '0' }, { TANDEM_SKIP_SYSTEM_CHECK: '1', CI: 'true' }]) expect(leftOutNeeds(env)).toEqual([]);
    const onThisMachine = leftOutNeeds({ TANDEM_SKIP_SYSTEM_CHECK: '1' });
    expect(onThisMachine.every((need) => NEEDS.includes(need))).toBe(true);
  });
});
