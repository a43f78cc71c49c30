-- AlterTable
ALTER TABLE "Event" ADD COLUMN     "prevSeq" INTEGER;
