/**
 * A stand-in redo worker for the engine test: it greets with protocol version 2, which no page
 * server speaks yet, and then waits for its stdin to end. The engine must refuse it at the handshake.
 */
import { encodeHello } from '../redo/worker/protocol.js';

process.stdout.write(encodeHello(2));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
