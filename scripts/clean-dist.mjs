// Removes dist/ before a TypeScript build, so that files of deleted sources cannot linger (tests and
// the architecture check read dist/).
import { rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
