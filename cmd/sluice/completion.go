package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The completion scripts ask the sluice being completed for the words
// that may follow (urfave/cli's --generate-bash-completion protocol): the
// subcommands, or the flags when the word being completed starts with "-".
const bashCompletion = `# bash completion for sluice; load with: source <(sluice completion bash)
_sluice_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local -a args=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
  if [[ "$cur" == -* ]]; then
    args+=("$cur")
  fi
  local words
  words=$("${COMP_WORDS[0]}" "${args[@]}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _sluice_complete sluice
`

const zshCompletion = `#compdef sluice
# zsh completion for sluice; load with: source <(sluice completion zsh)
_sluice() {
  local cur="${words[CURRENT]}"
  local -a args candidates
  args=("${(@)words[2,CURRENT-1]}")
  if [[ "$cur" == -* ]]; then
    args+=("$cur")
  fi
  candidates=("${(@f)$(${words[1]} "${(@)args}" --generate-bash-completion 2>/dev/null)}")
  compadd -- "${(@)candidates}"
}
if [[ "$funcstack[1]" == "_sluice" ]]; then
  _sluice "$@"
else
  compdef _sluice sluice
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: source <(sluice completion bash)",
		ArgsUsage: "bash|zsh",
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, "SHELL"); err != nil {
				return err
			}
			var script string
			switch sh := c.Args().First(); sh {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			default:
				return usagef("completion: unknown shell %q (want bash or zsh)", sh)
			}
			_, err := fmt.Fprint(envOf(c).stdout, script)
			return err
		},
	}
}
