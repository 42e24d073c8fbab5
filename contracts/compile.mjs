// Compiles the contracts with solc-js (the npm package, pinned in
// package.json) into out/: each contract's ABI and creation bytecode, which
// the Rust client embeds. `--check` compiles and fails if out/ differs, so a
// change to a contract cannot land without the bytecode it deploys.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const sources = ["ConsortiumCheckpoints.sol"];
const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    sources.map((f) => [f, { content: fs.readFileSync(path.join(here, f), "utf8") }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // No metadata hash: the same source gives the same bytes on any machine.
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
// Warnings fail the build too: the contract holds the consortium's word.
const errors = output.errors || [];
for (const e of errors) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const check = process.argv.includes("--check");
let stale = false;
fs.mkdirSync(path.join(here, "out"), { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    const files = {
      [`${name}.abi.json`]: JSON.stringify(c.abi, null, 2) + "\n",
      [`${name}.bin`]: c.evm.bytecode.object + "\n",
    };
    for (const [out, text] of Object.entries(files)) {
      const target = path.join(here, "out", out);
      if (check) {
        if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) {
          console.error(`contracts/out/${out} is not what ${file} compiles to: run 'npm run build' in contracts/ and commit it`);
          stale = true;
        }
      } else {
        fs.writeFileSync(target, text);
      }
    }
  }
}
console.log(`solc ${solc.version()}: ${check ? (stale ? "out/ is stale" : "out/ is in step") : "wrote out/"}`);
process.exit(stale ? 1 : 0);
