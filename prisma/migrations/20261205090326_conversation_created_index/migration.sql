-- CreateIndex
CREATE INDEX "Conversation_orgId_createdAt_idx" ON "Conversation"("orgId", "createdAt");
