-- AlterTable
ALTER TABLE "Appointment" ADD COLUMN     "assigneeId" TEXT;

-- AlterTable
ALTER TABLE "Event" ALTER COLUMN "userId" DROP NOT NULL;

-- AlterTable
ALTER TABLE "Lead" ADD COLUMN     "assigneeId" TEXT;

-- AlterTable
ALTER TABLE "Org" ADD COLUMN     "webhookSecret" TEXT;

-- CreateTable
CREATE TABLE "PhoneNumber" (
    "number" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PhoneNumber_pkey" PRIMARY KEY ("number")
);

-- CreateTable
CREATE TABLE "Conversation" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "channel" TEXT NOT NULL,
    "contactName" TEXT,
    "contactPhone" TEXT,
    "orgNumber" TEXT,
    "clientId" TEXT,
    "leadId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "assigneeId" TEXT,
    "unreadCount" INTEGER NOT NULL DEFAULT 0,
    "lastMessageAt" TIMESTAMP(3),
    "lastMessagePreview" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Conversation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Message" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "conversationId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "providerSid" TEXT,
    "authorId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "readAt" TIMESTAMP(3),
    "failedAt" TIMESTAMP(3),

    CONSTRAINT "Message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Call" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "callSid" TEXT NOT NULL,
    "fromNumber" TEXT NOT NULL,
    "toNumber" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'ringing',
    "clientId" TEXT,
    "answeredById" TEXT,
    "ringUntil" TIMESTAMP(3) NOT NULL,
    "answeredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Call_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT,
    "module" TEXT,
    "recordId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Alert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AppointmentReminder" (
    "appointmentId" TEXT NOT NULL,
    "startsAt" TIMESTAMP(3) NOT NULL,
    "orgId" TEXT NOT NULL,
    "firedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AppointmentReminder_pkey" PRIMARY KEY ("appointmentId","startsAt")
);

-- CreateIndex
CREATE INDEX "PhoneNumber_orgId_idx" ON "PhoneNumber"("orgId");

-- CreateIndex
CREATE INDEX "Conversation_orgId_lastMessageAt_idx" ON "Conversation"("orgId", "lastMessageAt");

-- CreateIndex
CREATE INDEX "Conversation_orgId_channel_contactPhone_idx" ON "Conversation"("orgId", "channel", "contactPhone");

-- CreateIndex
CREATE INDEX "Message_conversationId_createdAt_id_idx" ON "Message"("conversationId", "createdAt", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Message_orgId_providerSid_key" ON "Message"("orgId", "providerSid");

-- CreateIndex
CREATE INDEX "Call_status_ringUntil_idx" ON "Call"("status", "ringUntil");

-- CreateIndex
CREATE INDEX "Call_orgId_createdAt_idx" ON "Call"("orgId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Call_orgId_callSid_key" ON "Call"("orgId", "callSid");

-- CreateIndex
CREATE INDEX "Alert_orgId_createdAt_id_idx" ON "Alert"("orgId", "createdAt", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Alert_orgId_key_key" ON "Alert"("orgId", "key");

-- CreateIndex
CREATE INDEX "Appointment_startsAt_idx" ON "Appointment"("startsAt");

-- AddForeignKey
ALTER TABLE "PhoneNumber" ADD CONSTRAINT "PhoneNumber_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "Org"("id") ON DELETE CASCADE ON UPDATE CASCADE;
