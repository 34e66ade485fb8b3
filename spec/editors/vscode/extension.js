// Starts `abl lsp` (or abl.server.command) for .abl files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("abl").get("server.command");
  client = new LanguageClient("abl", "abl", { command, args },
                              { documentSelector: [{ scheme: "file", language: "abl" },
                                                   { scheme: "untitled", language: "abl" }] });
  client.start();
  context.subscriptions.push(client);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
