/**
 * Page and WAL layout constants of PostgreSQL 15 on x86-64 (pg_config.h, xlog_internal.h,
 * xlogrecord.h, bufpage.h). strata reads WAL from servers built with the defaults; the page
 * header checks in the decoder reject anything else.
 */

/** BLCKSZ: the relation page size. */
export const BLCKSZ = 8192;
/** XLOG_BLCKSZ: the WAL page size. */
export const XLOG_BLCKSZ = 8192;

/** XLOG_PAGE_MAGIC of PostgreSQL 15. */
export const XLOG_PAGE_MAGIC = 0xd110;

// xlp_info flags
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_BKP_REMOVABLE = 0x0004;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
export const XLP_ALL_FLAGS = 0x000f;

/** SizeOfXLogShortPHD: MAXALIGN(20). */
export const SIZE_OF_XLOG_SHORT_PHD = 24;
/** SizeOfXLogLongPHD: MAXALIGN(36). */
export const SIZE_OF_XLOG_LONG_PHD = 40;

/** SizeOfXLogRecord: the fixed record header. */
export const SIZE_OF_XLOG_RECORD = 24;
/** offsetof(XLogRecord, xl_crc): the header bytes the CRC covers. */
export const XLOG_RECORD_CRC_OFFSET = 20;

/** XLR_INFO_MASK: the low xl_info bits that belong to the record machinery, not the rmgr. */
export const XLR_INFO_MASK = 0x0f;
export const XLR_RMGR_INFO_MASK = 0xf0;
export const XLR_SPECIAL_REL_UPDATE = 0x01;
export const XLR_CHECK_CONSISTENCY = 0x02;

export const XLR_MAX_BLOCK_ID = 32;
export const XLR_BLOCK_ID_DATA_SHORT = 255;
export const XLR_BLOCK_ID_DATA_LONG = 254;
export const XLR_BLOCK_ID_ORIGIN = 253;
export const XLR_BLOCK_ID_TOPLEVEL_XID = 252;

// XLogRecordBlockHeader.fork_flags
export const BKPBLOCK_FORK_MASK = 0x0f;
export const BKPBLOCK_HAS_IMAGE = 0x10;
export const BKPBLOCK_HAS_DATA = 0x20;
export const BKPBLOCK_WILL_INIT = 0x40;
export const BKPBLOCK_SAME_REL = 0x80;

// XLogRecordBlockImageHeader.bimg_info
export const BKPIMAGE_HAS_HOLE = 0x01;
export const BKPIMAGE_APPLY = 0x02;
export const BKPIMAGE_COMPRESS_PGLZ = 0x04;
export const BKPIMAGE_COMPRESS_LZ4 = 0x08;
export const BKPIMAGE_COMPRESS_ZSTD = 0x10;
export const BKPIMAGE_COMPRESSED_MASK = BKPIMAGE_COMPRESS_PGLZ | BKPIMAGE_COMPRESS_LZ4 | BKPIMAGE_COMPRESS_ZSTD;

/** XLogRecordMaxSize: the largest record PostgreSQL 15 accepts when reading (1 GiB). */
export const XLOG_RECORD_MAX_SIZE = 1020 * 1024 * 1024;

/** SizeOfPageHeaderData (bufpage.h). */
export const SIZE_OF_PAGE_HEADER = 24;
/** sizeof(ItemIdData) */
export const SIZE_OF_ITEM_ID = 4;
