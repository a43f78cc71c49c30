import type { PublicUser, Role } from '../../shared/auth.ts';
import { JOB_STATUSES, LEAD_STATUSES, LISTING_STATUSES, ESCROW_STATUSES, APPOINTMENT_STATUSES, CLIENT_KINDS, modules, type ModuleName } from '../../shared/modules.ts';
import type { CreateInputOf } from '../../shared/modules.ts';
import { hashPassword } from '../auth/passwords.ts';
import type { AppDeps } from '../context.ts';
import { receiveIncomingCall } from '../comms/calls.ts';
import { assignConversation, receiveInboundMessage, sendMessage, updateDeliveryStatus } from '../comms/conversations.ts';
import { normalizePhone } from '../comms/phone.ts';
import { newWebhookSecret } from '../comms/webhooks.ts';
import { createRecord } from '../records/service.ts';

export const DEMO_PASSWORD = 'demo1234';
export const DEMO_LOGINS = [
  { org: 'Acme Realty', email: 'alice@acme.test', name: 'Alice Anders', role: 'admin' },
  { org: 'Acme Realty', email: 'bob@acme.test', name: 'Bob Brooks', role: 'agent' },
  { org: 'Globex Field Services', email: 'carol@globex.test', name: 'Carol Chen', role: 'admin' },
] as const satisfies readonly { org: string; email: string; name: string; role: Role }[];

const FIRST = ['Maria', 'James', 'Priya', 'Tom', 'Aisha', 'Luca', 'Sofia', 'Daniel', 'Mei', 'Omar', 'Grace', 'Noah'];
const LAST = ['Garcia', 'Smith', 'Patel', 'Nguyen', 'Okafor', 'Rossi', 'Kim', 'Novak', 'Silva', 'Haddad', 'Berg', 'Walsh'];
const STREETS = ['Oak St', 'Maple Ave', 'Cedar Ln', 'Harbor Blvd', 'Sunset Dr', 'Pine Ct', 'Lakeview Rd', 'Elm St'];
const CITIES = ['Springfield', 'Riverside', 'Fairview', 'Georgetown', 'Madison'];
const JOB_TITLES = [
  'Replace water heater',
  'HVAC tune-up',
  'Roof inspection',
  'Install smart thermostat',
  'Fix leaking faucet',
  'Panel upgrade',
  'Gutter cleaning',
  'Repaint living room',
];
const SOURCES = ['Website', 'Zillow', 'Referral', 'Open house', 'Facebook ad', 'Walk-in'];
const PLACES = ['Office', 'On site', 'Video call', 'Coffee shop downtown'];

/** A small deterministic generator so every fresh demo database looks the same. */
function createRandom(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return {
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!,
  };
}

/** Creates the demo orgs, users and about 20 records per module per org, through the same path as the API (events included). */
export async function seedDemoData(deps: AppDeps, { perModule = 20, communications = true } = {}): Promise<void> {
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const orgs = new Map<string, PublicUser[]>();
  for (const login of DEMO_LOGINS) {
    const org = (await deps.db.org.findFirst({ where: { name: login.org } })) ?? (await deps.db.org.create({ data: { name: login.org } }));
    const user = await deps.db.user.create({ data: { orgId: org.id, email: login.email, name: login.name, role: login.role, passwordHash } });
    const members = orgs.get(org.id) ?? [];
    members.push({ id: user.id, orgId: org.id, orgName: org.name, email: user.email, name: user.name, role: login.role });
    orgs.set(org.id, members);
  }

  let orgIndex = 0;
  for (const [orgId, members] of orgs) {
    const orgNumber = `+1555555${String(orgIndex + 1).padStart(2, '0')}00`;
    await deps.db.org.update({ where: { id: orgId }, data: { webhookSecret: newWebhookSecret(), phoneNumbers: { create: { number: orgNumber } } } });
    const random = createRandom(42 + orgIndex++);
    const create = <M extends ModuleName>(module: M, input: CreateInputOf<M>) => createRecord({ deps, user: random.pick(members) }, modules[module], input);
    const day = (offset: number, hour = 9) => {
      const date = new Date();
      date.setUTCDate(date.getUTCDate() + offset);
      date.setUTCHours(hour, 0, 0, 0);
      return date.toISOString();
    };
    const address = () => `${random.int(10, 9999)} ${random.pick(STREETS)}, ${random.pick(CITIES)}`;
    const phone = () => `+1 555 ${random.int(100, 999)} ${random.int(1000, 9999)}`;

    const clientIds: string[] = [];
    const clientPhones: string[] = [];
    const listingIds: string[] = [];
    for (let i = 0; i < perModule; i++) {
      const firstName = random.pick(FIRST);
      const lastName = random.pick(LAST);
      const client = await create('clients', {
        firstName,
        lastName,
        email: `${firstName}.${lastName}${i}@example.com`.toLowerCase(),
        phone: phone(),
        kind: random.pick(CLIENT_KINDS),
        notes: i % 3 === 0 ? 'Prefers text messages' : null,
      });
      clientIds.push(client.id);
      clientPhones.push(normalizePhone(String(client.phone))!);
      const listing = await create('listings', {
        mlsNumber: `MLS${random.int(100000, 999999)}`,
        address: address(),
        listPriceCents: random.int(250, 2500) * 1_000_00,
        status: random.pick(LISTING_STATUSES),
        beds: random.int(1, 6),
        baths: random.int(2, 8) / 2,
        sqft: random.int(600, 5000),
      });
      listingIds.push(listing.id);
    }
    for (let i = 0; i < perModule; i++) {
      await create('jobs', {
        title: random.pick(JOB_TITLES),
        status: random.pick(JOB_STATUSES),
        scheduledAt: day(random.int(-10, 20), random.int(8, 16)),
        assigneeId: random.pick(members).id,
        clientId: random.pick(clientIds),
        estimatedHours: random.int(1, 16) / 2,
        notes: i % 4 === 0 ? 'Gate code 4821; dog in the yard' : null,
      });
      await create('escrows', {
        escrowNumber: `ESC-${2026}-${String(i + 1).padStart(4, '0')}`,
        propertyAddress: address(),
        purchasePriceCents: random.int(250, 2500) * 1_000_00,
        status: random.pick(ESCROW_STATUSES),
        closingDate: day(random.int(5, 60)),
        listingId: random.pick(listingIds),
        buyerClientId: random.pick(clientIds),
      });
      const firstName = random.pick(FIRST);
      await create('leads', {
        name: `${firstName} ${random.pick(LAST)}`,
        email: `${firstName.toLowerCase()}${i}@mail.test`,
        phone: phone(),
        source: random.pick(SOURCES),
        status: random.pick(LEAD_STATUSES),
        score: random.int(5, 95),
      });
      const start = day(random.int(-3, 14), random.int(8, 17));
      await create('appointments', {
        title: random.pick(['Showing', 'Listing consultation', 'Closing signing', 'Site visit', 'Follow-up call']),
        startsAt: start,
        endsAt: new Date(Date.parse(start) + random.int(1, 4) * 30 * 60_000).toISOString(),
        location: random.pick(PLACES),
        clientId: random.pick(clientIds),
        status: random.pick(APPOINTMENT_STATUSES),
        reminderMinutes: random.pick([10, 15, 30, 60]),
        assigneeId: random.pick(members).id,
      });
    }
    // Conversations need clients to write from; an empty demo stays empty.
    if (communications && perModule > 0) await seedCommunications(deps, { orgId, orgNumber, members, clientIds, clientPhones, random });
  }
}

const INBOUND = [
  'Hi, is the house on Maple still available?',
  'Can we move our showing to Thursday?',
  'The technician just left, everything works now. Thanks!',
  'What time is the closing signing tomorrow?',
  'Could you send me the inspection report?',
];
const REPLIES = ['Yes, it is! Would you like to see it this week?', 'Sure, Thursday at 4 pm works.', 'Glad to hear it!', '10 am at the title office.'];

/** A few conversations (replies delivered and read), a missed call and appointments starting soon, through the real services. */
async function seedCommunications(
  deps: AppDeps,
  seed: { orgId: string; orgNumber: string; members: PublicUser[]; clientIds: string[]; clientPhones: string[]; random: ReturnType<typeof createRandom> },
) {
  const { orgId, orgNumber, members, clientIds, clientPhones, random } = seed;
  for (let i = 0; i < INBOUND.length; i++) {
    const from = clientPhones[i % clientPhones.length]!;
    const { conversation } = await receiveInboundMessage(deps, { orgId, channel: 'sms', from, to: orgNumber, body: INBOUND[i]!, providerSid: `SMseed${orgId}${i}`.slice(0, 64) });
    const agent = members[i % members.length]!;
    if (i % 2 === 0) await assignConversation({ deps, user: members[0]! }, { id: conversation.id, assigneeId: agent.id });
    const reply = REPLIES[i];
    if (!reply) continue;
    const sent = await sendMessage({ deps, user: agent }, { conversationId: conversation.id, body: reply });
    const sid = (await deps.db.message.findUniqueOrThrow({ where: { id: sent.id }, select: { providerSid: true } })).providerSid!;
    await updateDeliveryStatus(deps, orgId, sid, 'delivered');
    if (i % 2 === 1) await updateDeliveryStatus(deps, orgId, sid, 'read');
  }
  // Rings out at once: the scheduler's first pass marks it missed and notifies everyone.
  await receiveIncomingCall(deps, { orgId, callSid: `CAseed${orgId}`.slice(0, 64), from: clientPhones[1 % clientPhones.length]!, to: orgNumber, ringTimeoutMs: 0 });
  const soon = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
  for (const [title, startsIn] of [
    ['Call back about the offer', 10],
    ['Showing at Harbor Blvd', 25],
  ] as const) {
    await createRecord({ deps, user: members[0]! }, modules.appointments, {
      title,
      startsAt: soon(startsIn),
      endsAt: soon(startsIn + 30),
      location: 'Office',
      clientId: random.pick(clientIds),
      status: 'confirmed',
      reminderMinutes: 15,
      assigneeId: members[members.length - 1]!.id,
    });
  }
}
