-- AlterTable
ALTER TABLE "Event" ADD COLUMN     "overridesVersion" INTEGER;
