-- AlterTable
ALTER TABLE "Appointment" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Escrow" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Event" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Lead" ADD COLUMN     "teamId" TEXT;

-- AlterTable
ALTER TABLE "Listing" ADD COLUMN     "teamId" TEXT;
