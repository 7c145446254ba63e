import {Args} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {completionCommand, completionScript, type Shell, SHELLS} from '../cli/completion.js';
import {exitCodes} from '../cli/help.js';

export interface CompletionResult {
  shell: Shell;
  script: string;
}

export default class Completion extends BaseCommand<typeof Completion, CompletionResult> {
  static override summary = 'Print a shell completion script (bash, zsh or fish) for commands, flags and flag values.';
  static override description =
    'Generated from the command manifest: completes command and topic words, each command\'s flags, the ' +
    'values of flags that take one of a fixed set (--format json|yaml, --kernel latest|6.1), and file ' +
    'names elsewhere. Install:\n' +
    '  bash: vfio-mig completion bash > ~/.local/share/bash-completion/completions/vfio-mig\n' +
    '  zsh:  vfio-mig completion zsh > ~/.vfio-mig-completion.zsh; add "source ~/.vfio-mig-completion.zsh" to ~/.zshrc\n' +
    '  fish: vfio-mig completion fish > ~/.config/fish/completions/vfio-mig.fish\n' +
    'then open a new shell.' +
    exitCodes({0: 'the script printed'});

  static override examples = ['<%= config.bin %> completion bash > ~/.local/share/bash-completion/completions/vfio-mig', 'source <(<%= config.bin %> completion bash)'];

  static override args = {
    shell: Args.string({description: 'the shell', options: [...SHELLS], required: true}),
  };

  protected async execute(): Promise<Outcome<CompletionResult>> {
    const shell = this.args.shell as Shell;
    const commands = this.config.commands.filter((c) => !c.hidden).map((c) => completionCommand(c.id, c.summary, c.flags as Parameters<typeof completionCommand>[2]));
    const script = completionScript(shell, commands);
    return {result: {shell, script}, exitCode: 0, human: () => script};
  }
}
