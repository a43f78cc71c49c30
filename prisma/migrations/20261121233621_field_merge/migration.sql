-- AlterTable
ALTER TABLE "Event" ADD COLUMN     "mergedFromVersion" INTEGER;
