/**
 * pg_control (ControlFileData, catalog/pg_control.h) and the CheckPoint struct inside it and inside
 * checkpoint records: read when strata imports a data directory, kept up to date as WAL arrives
 * (the checkpoint counters), and written into the base backups it serves. Layout of PostgreSQL 15
 * on a 64-bit little-endian machine (PG_CONTROL_VERSION 1300):
 *
 * ```
 *  ControlFileData                      CheckPoint (88 bytes; at 40 in pg_control)
 *    0 system_identifier  u64             0 redo               u64
 *    8 pg_control_version u32             8 ThisTimeLineID     u32
 *   12 catalog_version_no u32            12 PrevTimeLineID     u32
 *   16 state              u32            16 fullPageWrites     bool
 *   24 time               i64            24 nextXid            u64 (epoch << 32 | xid)
 *   32 checkPoint         u64            32 nextOid            u32
 *   40 checkPointCopy     CheckPoint     36 nextMulti          u32
 *  128 unloggedLSN        u64            40 nextMultiOffset    u32
 *  136 minRecoveryPoint   u64            44 oldestXid          u32
 *  144 minRecoveryPointTLI u32           48 oldestXidDB        u32
 *  152 backupStartPoint   u64            52 oldestMulti        u32
 *  160 backupEndPoint     u64            56 oldestMultiDB      u32
 *  168 backupEndRequired  bool           64 time               i64
 *  172 wal_level          i32            72 oldestCommitTsXid  u32
 *  176 wal_log_hints      bool           76 newestCommitTsXid  u32
 *  180 MaxConnections .. 196 max_locks_per_xact (5 x i32)   80 oldestActiveXid u32
 *  200 track_commit_timestamp bool
 *  204 maxAlign u32, 208 floatFormat f64, 216 blcksz, relseg_size, xlog_blcksz, xlog_seg_size,
 *      nameDataLen, indexMaxKeys, toast_max_chunk_size, loblksize (8 x u32)
 *  248 float8ByVal bool, 252 data_checksum_version u32, 256 mock_authentication_nonce[32]
 *  288 crc (CRC-32C of bytes 0..287); the file is padded with zeros to 8192 bytes.
 * ```
 */
import { crc32cRange } from './crc32c.js';

export const PG_CONTROL_VERSION = 1300;
export const PG_CONTROL_FILE_SIZE = 8192;
export const CHECKPOINT_BYTES = 88;
export const CONTROL_CHECKPOINT_OFFSET = 40;
const CONTROL_CRC_OFFSET = 288;

/** DBState (pg_control.h). */
export const enum DbState {
  Startup = 0,
  Shutdowned = 1,
  ShutdownedInRecovery = 2,
  Shutdowning = 3,
  InCrashRecovery = 4,
  InArchiveRecovery = 5,
  InProduction = 6,
}

export class ControlFileError extends Error {
  override readonly name = 'ControlFileError';
}

/** A CheckPoint struct over its bytes: reads and writes fields in place. */
export class CheckPointStruct {
  readonly bytes: Buffer;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== CHECKPOINT_BYTES) throw new ControlFileError(`Cannot read a CheckPoint from ${bytes.length} bytes: it is ${CHECKPOINT_BYTES}`);
    this.bytes = Buffer.from(bytes);
  }

  get redo(): bigint {
    return this.bytes.readBigUInt64LE(0);
  }
  set redo(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 0);
  }
  get thisTimeLineId(): number {
    return this.bytes.readUInt32LE(8);
  }
  set thisTimeLineId(v: number) {
    this.bytes.writeUInt32LE(v, 8);
  }
  get prevTimeLineId(): number {
    return this.bytes.readUInt32LE(12);
  }
  set prevTimeLineId(v: number) {
    this.bytes.writeUInt32LE(v, 12);
  }
  /** FullTransactionId: epoch in the high 32 bits. */
  get nextXid(): bigint {
    return this.bytes.readBigUInt64LE(24);
  }
  set nextXid(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 24);
  }
  /** The xid half of nextXid (its low 32 bits), as a number: no BigInt made. */
  get nextXidLow(): number {
    return this.bytes.readUInt32LE(24);
  }
  /** The epoch half of nextXid (its high 32 bits), as a number. */
  get nextXidEpoch(): number {
    return this.bytes.readUInt32LE(28);
  }
  /** Sets nextXid from its halves, numbers (ingest moves it once per transaction: no BigInt made). */
  setNextXid(epoch: number, xid: number): void {
    this.bytes.writeUInt32LE(xid, 24);
    this.bytes.writeUInt32LE(epoch, 28);
  }
  get nextOid(): number {
    return this.bytes.readUInt32LE(32);
  }
  set nextOid(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 32);
  }
  get nextMulti(): number {
    return this.bytes.readUInt32LE(36);
  }
  set nextMulti(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 36);
  }
  get nextMultiOffset(): number {
    return this.bytes.readUInt32LE(40);
  }
  set nextMultiOffset(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 40);
  }
  get oldestXid(): number {
    return this.bytes.readUInt32LE(44);
  }
  set oldestXid(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 44);
  }
  get oldestXidDb(): number {
    return this.bytes.readUInt32LE(48);
  }
  set oldestXidDb(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 48);
  }
  get oldestMulti(): number {
    return this.bytes.readUInt32LE(52);
  }
  set oldestMulti(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 52);
  }
  get oldestMultiDb(): number {
    return this.bytes.readUInt32LE(56);
  }
  set oldestMultiDb(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 56);
  }
  get fullPageWrites(): boolean {
    return this.bytes[16] !== 0;
  }
  get time(): bigint {
    return this.bytes.readBigInt64LE(64);
  }
  set time(v: bigint) {
    this.bytes.writeBigInt64LE(v, 64);
  }
  get oldestCommitTsXid(): number {
    return this.bytes.readUInt32LE(72);
  }
  set oldestCommitTsXid(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 72);
  }
  get newestCommitTsXid(): number {
    return this.bytes.readUInt32LE(76);
  }
  set newestCommitTsXid(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 76);
  }
  get oldestActiveXid(): number {
    return this.bytes.readUInt32LE(80);
  }
  set oldestActiveXid(v: number) {
    this.bytes.writeUInt32LE(v >>> 0, 80);
  }
}

/** The fields of pg_control strata reads; the bytes are kept whole for writing back. */
export class ControlFile {
  readonly bytes: Buffer;

  /** Parses and checks (version, CRC) the first bytes of a pg_control file. */
  constructor(bytes: Uint8Array, where = 'pg_control') {
    if (bytes.length < CONTROL_CRC_OFFSET + 4) throw new ControlFileError(`Cannot read ${where}: ${bytes.length} bytes is too short for ControlFileData`);
    this.bytes = Buffer.alloc(PG_CONTROL_FILE_SIZE);
    this.bytes.set(bytes.subarray(0, Math.min(bytes.length, PG_CONTROL_FILE_SIZE)));
    const version = this.bytes.readUInt32LE(8);
    if (version !== PG_CONTROL_VERSION) throw new ControlFileError(`Cannot read ${where}: pg_control_version is ${version}, strata reads ${PG_CONTROL_VERSION} (PostgreSQL 15)`);
    const crc = this.bytes.readUInt32LE(CONTROL_CRC_OFFSET);
    if (crc32cRange(this.bytes, 0, CONTROL_CRC_OFFSET) !== crc) throw new ControlFileError(`Cannot read ${where}: its CRC does not match`);
  }

  get systemIdentifier(): bigint {
    return this.bytes.readBigUInt64LE(0);
  }
  /** CATALOG_VERSION_NO: names a tablespace's folder (TABLESPACE_VERSION_DIRECTORY, `PG_15_<it>`). */
  get catalogVersionNo(): number {
    return this.bytes.readUInt32LE(12);
  }
  get state(): number {
    return this.bytes.readUInt32LE(16);
  }
  set state(v: number) {
    this.bytes.writeUInt32LE(v, 16);
  }
  /** The LSN of the last checkpoint record. */
  get checkPoint(): bigint {
    return this.bytes.readBigUInt64LE(32);
  }
  set checkPoint(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 32);
  }
  get checkPointCopy(): CheckPointStruct {
    return new CheckPointStruct(this.bytes.subarray(CONTROL_CHECKPOINT_OFFSET, CONTROL_CHECKPOINT_OFFSET + CHECKPOINT_BYTES));
  }
  set checkPointCopy(c: CheckPointStruct) {
    this.bytes.set(c.bytes, CONTROL_CHECKPOINT_OFFSET);
  }
  /** pg_time_t of the last pg_control update. */
  get time(): bigint {
    return this.bytes.readBigInt64LE(24);
  }
  set time(v: bigint) {
    this.bytes.writeBigInt64LE(v, 24);
  }
  get unloggedLsn(): bigint {
    return this.bytes.readBigUInt64LE(128);
  }
  get minRecoveryPoint(): bigint {
    return this.bytes.readBigUInt64LE(136);
  }
  set minRecoveryPoint(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 136);
  }
  get minRecoveryPointTli(): number {
    return this.bytes.readUInt32LE(144);
  }
  set minRecoveryPointTli(v: number) {
    this.bytes.writeUInt32LE(v, 144);
  }
  get backupStartPoint(): bigint {
    return this.bytes.readBigUInt64LE(152);
  }
  set backupStartPoint(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 152);
  }
  get backupEndPoint(): bigint {
    return this.bytes.readBigUInt64LE(160);
  }
  set backupEndPoint(v: bigint) {
    this.bytes.writeBigUInt64LE(v, 160);
  }
  get backupEndRequired(): boolean {
    return this.bytes[168] !== 0;
  }
  set backupEndRequired(v: boolean) {
    this.bytes[168] = v ? 1 : 0;
  }
  get walLevel(): number {
    return this.bytes.readInt32LE(172);
  }
  get walLogHints(): boolean {
    return this.bytes[176] !== 0;
  }
  get maxConnections(): number {
    return this.bytes.readInt32LE(180);
  }
  get maxWorkerProcesses(): number {
    return this.bytes.readInt32LE(184);
  }
  get maxWalSenders(): number {
    return this.bytes.readInt32LE(188);
  }
  get maxPreparedXacts(): number {
    return this.bytes.readInt32LE(192);
  }
  get maxLocksPerXact(): number {
    return this.bytes.readInt32LE(196);
  }
  get trackCommitTimestamp(): boolean {
    return this.bytes[200] !== 0;
  }
  get blcksz(): number {
    return this.bytes.readUInt32LE(216);
  }
  get walSegmentSize(): number {
    return this.bytes.readUInt32LE(228);
  }
  get dataChecksumVersion(): number {
    return this.bytes.readUInt32LE(252);
  }

  /** xlog_redo XLOG_PARAMETER_CHANGE: the settings a standby must match, as the primary logged them. */
  setParameters(p: {
    readonly maxConnections: number;
    readonly maxWorkerProcesses: number;
    readonly maxWalSenders: number;
    readonly maxPreparedXacts: number;
    readonly maxLocksPerXact: number;
    readonly walLevel: number;
    readonly walLogHints: boolean;
    readonly trackCommitTimestamp: boolean;
  }): void {
    this.bytes.writeInt32LE(p.walLevel, 172);
    this.bytes[176] = p.walLogHints ? 1 : 0;
    this.bytes.writeInt32LE(p.maxConnections, 180);
    this.bytes.writeInt32LE(p.maxWorkerProcesses, 184);
    this.bytes.writeInt32LE(p.maxWalSenders, 188);
    this.bytes.writeInt32LE(p.maxPreparedXacts, 192);
    this.bytes.writeInt32LE(p.maxLocksPerXact, 196);
    this.bytes[200] = p.trackCommitTimestamp ? 1 : 0;
  }

  /** XLogHintBitIsNeeded(): data checksums or wal_log_hints. */
  get hintBitsLogged(): boolean {
    return this.dataChecksumVersion !== 0 || this.walLogHints;
  }

  /** The file's 8192 bytes with a fresh CRC. */
  encode(): Buffer {
    this.bytes.writeUInt32LE(crc32cRange(this.bytes, 0, CONTROL_CRC_OFFSET), CONTROL_CRC_OFFSET);
    return Buffer.from(this.bytes);
  }
}
