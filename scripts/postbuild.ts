// Makes the built CLI executable, as npm does when it links a package's bin.
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/cli/main.js', import.meta.url), 0o755);
