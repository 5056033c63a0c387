#!/usr/bin/env node
// Compile contracts/src/**/*.sol with solcjs (standard JSON) into ledger/chain/artifacts/*.json.
//
//   node scripts/compile_contracts.js            write the artifacts
//   node scripts/compile_contracts.js --out DIR  write them elsewhere (the match test uses it)
//
// Pinned: solc 0.8.37 (package-lock.json), evmVersion "prague" (py-evm stops there; solc's
// default is osaka), optimizer on with 200 runs, no metadata-changing paths: source keys are
// repository-relative and imports resolve from node_modules, so the output is byte-for-byte
// deterministic and the committed artifacts can be checked by recompiling.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const SRC = path.join(ROOT, "contracts", "src");
const EXPECTED_SOLC = "0.8.37";

function listSol(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSol(full));
    else if (entry.name.endsWith(".sol")) out.push(full);
  }
  return out;
}

function findImports(importPath) {
  const candidates = [path.join(ROOT, "node_modules", importPath), path.join(ROOT, importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

function main() {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf("--out");
  const outDir = outIndex >= 0 ? path.resolve(args[outIndex + 1]) : path.join(ROOT, "ledger", "chain", "artifacts");
  const version = solc.version();
  if (!version.startsWith(EXPECTED_SOLC + "+")) {
    console.error(`solc ${EXPECTED_SOLC} expected, got ${version}`);
    process.exit(1);
  }
  const sources = {};
  for (const file of listSol(SRC)) {
    const key = path.relative(ROOT, file).split(path.sep).join("/");
    sources[key] = { content: fs.readFileSync(file, "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  // Warnings inside OpenZeppelin are not ours to fix; show our own and every error.
  for (const e of output.errors || []) {
    const file = (e.sourceLocation && e.sourceLocation.file) || "";
    if (e.severity === "error" || !file.startsWith("@openzeppelin/")) console.error(e.formattedMessage);
  }
  if (errors.length) process.exit(1);

  fs.mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const sourceName of Object.keys(sources)) {
    for (const [name, contract] of Object.entries(output.contracts[sourceName] || {})) {
      const bytecode = contract.evm.bytecode.object;
      if (!bytecode) continue; // interfaces and abstract contracts
      const artifact = {
        contractName: name,
        sourceName,
        compiler: { version, evmVersion: "prague", optimizer: { enabled: true, runs: 200 } },
        abi: contract.abi,
        bytecode: "0x" + bytecode,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      };
      fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
      written.push(`${name} (${contract.evm.deployedBytecode.object.length / 2} bytes)`);
    }
  }
  console.log(`solc ${version}: ${written.join(", ")} -> ${path.relative(ROOT, outDir) || outDir}`);
}

main();
