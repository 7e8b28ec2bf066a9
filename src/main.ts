/**
 * The `kiln` command: `serve` and `up` start the server (and `up` a local
 * worker); every other command is the CLI. Each room is loaded only when used,
 * so the CLI never loads the server's code.
 */
const [command, ...rest] = process.argv.slice(2);

switch (command) {
  case 'serve': {
    const { main } = await import('./server/main.ts');
    await main(rest);
    break;
  }
  case 'up': {
    const { main } = await import('./up.ts');
    await main(rest);
    break;
  }
  default: {
    const { main } = await import('./cli/main.ts');
    await main(process.argv);
  }
}
