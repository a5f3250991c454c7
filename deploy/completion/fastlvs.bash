# bash completion for fastlvs(8) and fastlvs-decap
_fastlvs() {
    local cur prev words cword
    _init_completion || return
    case $prev in
        -c|--config|-o|--output)
            _filedir '@(yaml|yml|conf)'; return ;;
        --iface)
            _available_interfaces; return ;;
        --log-format)
            COMPREPLY=($(compgen -W 'text json' -- "$cur")); return ;;
        --log-level)
            COMPREPLY=($(compgen -W 'debug info warn error' -- "$cur")); return ;;
        --xdp-mode)
            COMPREPLY=($(compgen -W 'auto native generic' -- "$cur")); return ;;
        --workers)
            COMPREPLY=($(compgen -W 'auto' -- "$cur")); return ;;
        --api|--metrics|--cpus|--stats-interval|--duration|--max-requests)
            return ;;
    esac
    case ${words[1]} in
        demo)
            COMPREPLY=($(compgen -W '--duration --max-requests --help' -- "$cur")); return ;;
        import)
            if [[ $cword -eq 2 ]]; then
                COMPREPLY=($(compgen -W 'keepalived' -- "$cur"))
            elif [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '--output --help' -- "$cur"))
            else
                _filedir
            fi
            return ;;
        version|help)
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '--config --iface --workers --cpus --api --metrics
            --xdp-mode --watch --stats-interval --log-format --log-level --version
            --help' -- "$cur"))
    elif [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W 'demo import version help' -- "$cur"))
    fi
} &&
complete -F _fastlvs fastlvs

_fastlvs_decap() {
    local cur prev words cword
    _init_completion || return
    case $prev in
        --iface) _available_interfaces; return ;;
        --log-format) COMPREPLY=($(compgen -W 'text json' -- "$cur")); return ;;
        --log-level) COMPREPLY=($(compgen -W 'debug info warn error' -- "$cur")); return ;;
        --stats-interval) return ;;
    esac
    COMPREPLY=($(compgen -W '--iface --stats-interval --log-format --log-level --version --help' -- "$cur"))
} &&
complete -F _fastlvs_decap fastlvs-decap
