# bash completion for fastlvsadm(8)
_fastlvsadm() {
    local cur prev words cword
    _init_completion || return
    case $prev in
        -s|--scheduler)
            COMPREPLY=($(compgen -W 'rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos' -- "$cur")); return ;;
        -b|--sched-flags)
            COMPREPLY=($(compgen -W 'sh-fallback sh-port mh-fallback mh-port' -- "$cur")); return ;;
        -t|--tcp-service|-u|--udp-service|-r|--real-server|-w|--weight|-x|--u-threshold|\
        -y|--l-threshold|-M|--netmask|-z|--laddr|--api)
            return ;;
    esac
    COMPREPLY=($(compgen -W '-A --add-service -E --edit-service -D --delete-service
        -C --clear -R --restore -S --save -a --add-server -e --edit-server
        -d --delete-server -L -l --list -Z --zero --set -P --add-laddr
        -Q --del-laddr -G --get-laddr -h --help -t --tcp-service -u --udp-service
        -s --scheduler -p --persistent -M --netmask -r --real-server -g --gatewaying
        -i --ipip -m --masquerading -F --fullnat -w --weight -x --u-threshold
        -y --l-threshold -z --laddr -c --connection --timeout --stats --rate
        --exact --thresholds --persistent-conn --nosort --sort -o --ops -n --numeric
        -b --sched-flags --health --api' -- "$cur"))
} &&
complete -F _fastlvsadm fastlvsadm
