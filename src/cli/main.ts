#!/usr/bin/env node
/** The `switchboard` binary: the command line of program.ts, run on this process's arguments. */
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`switchboard: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
