#!/bin/sh
# /init of the benchmark initramfs that scripts/guest-bench.sh appends to the guest's
# initrd.gz (a later cpio archive overrides the earlier /init). Runs /bin/emubench on the
# console and powers off. Kernel command line: emubench.scale=S, emubench.rows=a,b,...
mkdir -p /sbin /usr/bin /usr/sbin   # so --install can place every applet
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
scale=1; rows=
for a in $(cat /proc/cmdline); do case $a in
    emubench.scale=*) scale=${a#*=};;
    emubench.rows=*) rows=$(echo "${a#*=}" | tr , ' ');;
esac; done
cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)
echo "EMUBENCH-INIT kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)s clocksource=$cs"
# shellcheck disable=SC2086 # rows is a word list
/bin/emubench "$scale" $rows
echo "EMUBENCH-EXIT status=$?"
poweroff -f
