/** Entry of a crypto pool worker thread (pool.ts starts it; pool-worker.ts does the work). */
import { parentPort } from 'node:worker_threads';
import { serve } from './pool-worker.js';

if (!parentPort) throw new Error('pool-thread.js runs only as a worker thread');
serve(parentPort);
