# bash completion for steerctl (installed by `make install`). The words come
# from steerctl itself (`steerctl help --complete WORD...`), read from the
# same option tables as its parsing and help, so they cannot drift.
_steerctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'

	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" help --complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2> /dev/null)" -- "$cur"))
}
complete -F _steerctl steerctl
