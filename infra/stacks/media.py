"""The media service: one Fargate service behind an Application Load Balancer carrying Twilio's
Media Streams WebSockets over TLS.

- Public: only ``<media_stream_path>``, the browser-call socket ``/web/*`` and the listen-in socket
  ``/monitor/*`` on the listener (everything else answers 404 at the balancer).
- Internal: the control port, reachable only from the Lambdas' security group, found through Cloud Map
  (``media.<namespace>``) before a call has an owner and by task address afterwards.
- Scaling: target tracking on the per-task average of the ``VoicePlatform/ActiveCalls`` metric the
  service publishes (dimension ``Service``), with CPU as a floor; a long deregistration delay so calls
  on a task being drained can finish.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from infra.config import ACTIVE_CALLS_DIMENSION, ACTIVE_CALLS_METRIC, ACTIVE_CALLS_NAMESPACE, StageConfig
from infra.stacks.common import log_group_for

CONTAINER_NAME = "media"

# Never sent to Docker: the image needs media/, chalicelib/ and the requirements files only.
DOCKER_EXCLUDE = [".git", ".venv", "**/__pycache__", "**/*.pyc", "node_modules", "infra", "tests", "bench", "docs",
                  ".local", ".devstack", ".chalice", "chalice.out", ".pytest_cache", ".ruff_cache", "*.egg-info"]

# `pyright: ignore[reportArgumentType]` below marks a jsii class (kms.Key, iam.Role, sns.Topic, ...) passed
# where its interface is expected. jsii generates each interface as a Protocol whose parameter names differ
# from the class's (add_alias(alias) vs add_alias(alias_name)), so pyright rejects what works at runtime.


class MediaImageMissing(FileNotFoundError):
    """media/Dockerfile does not exist: the media service cannot be deployed."""


def media_image(config: StageConfig) -> ecs.ContainerImage:
    dockerfile = Path(config.media_context_dir) / config.media_dockerfile
    if not dockerfile.is_file():
        raise MediaImageMissing(
            f"{dockerfile} is missing: the media service image is built from it (docker build context "
            f"{config.media_context_dir}). Add the Dockerfile or set media_context_dir/media_dockerfile.")
    # Staged into cdk.out, built by `cdk deploy` (not at synth time).
    return ecs.ContainerImage.from_asset(config.media_context_dir, file=config.media_dockerfile,
                                         exclude=DOCKER_EXCLUDE)


def active_calls_metric(config: StageConfig) -> cloudwatch.Metric:
    """Per-task average of the calls each media task holds (each task publishes its own datapoints)."""
    return cloudwatch.Metric(namespace=ACTIVE_CALLS_NAMESPACE, metric_name=ACTIVE_CALLS_METRIC,
                             dimensions_map={ACTIVE_CALLS_DIMENSION: config.media_service_name},
                             statistic="Average", period=cdk.Duration.minutes(1))


class MediaService(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StageConfig, vpc: ec2.IVpc,
                 lambda_security_group: ec2.ISecurityGroup, environment: dict[str, str],
                 secrets: dict[str, ecs.Secret]) -> None:
        super().__init__(scope, id)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        namespace = servicediscovery.PrivateDnsNamespace(self, "Namespace", vpc=vpc,
                                                         name=config.service_discovery_namespace)

        task = ecs.FargateTaskDefinition(
            self, "Task", cpu=config.media_cpu, memory_limit_mib=config.media_memory_mib,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX))
        self.task_definition = task
        self.task_role = task.task_role
        logs = log_group_for(self, "Logs", f"/ecs/{config.media_service_name}", config)
        self.container = task.add_container(
            CONTAINER_NAME,
            image=media_image(config),
            logging=ecs.LogDriver.aws_logs(stream_prefix="media", log_group=logs),
            environment={
                **environment,
                "MEDIA_PORT": str(config.media_port),
                "MEDIA_CONTROL_PORT": str(config.media_control_port),
                "MEDIA_MAX_CALLS": str(config.media_max_calls),
                "ACTIVE_CALLS_METRIC_NAMESPACE": ACTIVE_CALLS_NAMESPACE,
                "ACTIVE_CALLS_METRIC_NAME": ACTIVE_CALLS_METRIC,
                "ACTIVE_CALLS_METRIC_SERVICE": config.media_service_name,
            },
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=config.media_port, name="media"),
                           ecs.PortMapping(container_port=config.media_control_port, name="control")],
            stop_timeout=cdk.Duration.seconds(120),  # the Fargate maximum: drain after deregistration
        )
        task.task_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],  # PutMetricData has no resource type
            conditions={"StringEquals": {"cloudwatch:namespace": ACTIVE_CALLS_NAMESPACE}}))

        self.security_group = ec2.SecurityGroup(self, "TaskSecurityGroup", vpc=vpc, allow_all_outbound=True,
                                                description="media tasks: WebSocket from the ALB, control from Lambdas")
        self.security_group.add_ingress_rule(lambda_security_group, ec2.Port.tcp(config.media_control_port),
                                             "control endpoint: only the control-plane Lambdas")
        # A monitor listener that lands on a task not holding the call is relayed to the holder's control
        # listener (docs/web-calls.md): media tasks reach each other there, nothing else does.
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(config.media_control_port),
                                             "monitor relay between media tasks")
        self.service = ecs.FargateService(
            self, "Service", cluster=self.cluster, task_definition=task, service_name=config.media_service_name,
            desired_count=config.media_min_tasks, min_healthy_percent=100, max_healthy_percent=200,
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=cdk.Duration.seconds(60),
            cloud_map_options=ecs.CloudMapOptions(name="media", cloud_map_namespace=namespace,
                                                  dns_record_type=servicediscovery.DnsRecordType.A,
                                                  dns_ttl=cdk.Duration.seconds(10)),
        )

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=True, idle_timeout=cdk.Duration.seconds(120),
            drop_invalid_header_fields=True)
        self.target_group = elbv2.ApplicationTargetGroup(
            self, "Targets", vpc=vpc, port=config.media_port, protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[self.service.load_balancer_target(container_name=CONTAINER_NAME,
                                                       container_port=config.media_port)],
            health_check=elbv2.HealthCheck(path="/healthz", healthy_http_codes="200",
                                           interval=cdk.Duration.seconds(15), timeout=cdk.Duration.seconds(5),
                                           healthy_threshold_count=2, unhealthy_threshold_count=3),
            deregistration_delay=cdk.Duration.seconds(config.deregistration_delay_seconds),
        )
        if config.certificate_arn:  # config.tls
            certificate = acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn)
            listener = self.load_balancer.add_listener(
                "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, certificates=[certificate],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                default_action=elbv2.ListenerAction.fixed_response(404, content_type="application/json",
                                                                   message_body='{"error":"not_found"}'))
            self.load_balancer.add_redirect(source_port=80, target_port=443)
            host = config.media_domain
            scheme = "wss"
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "voice:no-tls", "No certificate_arn/media_domain: the media WebSocket is plain ws://, which Twilio "
                "refuses. Fine for a synth or a smoke test, not for calls.")
            listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP,
                default_action=elbv2.ListenerAction.fixed_response(404, content_type="application/json",
                                                                   message_body='{"error":"not_found"}'))
            host = self.load_balancer.load_balancer_dns_name
            scheme = "ws"
        listener.add_action("Stream", priority=10, action=elbv2.ListenerAction.forward([self.target_group]),
                            conditions=[elbv2.ListenerCondition.path_patterns(
                                [config.media_stream_path, config.media_stream_path + "/*"])])
        # Browser calls and listeners: same listener and target group, so they scale and drain with the rest.
        listener.add_action("Browser", priority=20, action=elbv2.ListenerAction.forward([self.target_group]),
                            conditions=[elbv2.ListenerCondition.path_patterns(["/web/*", "/monitor/*"])])
        self.listener = listener
        self.websocket_url = f"{scheme}://{host}{config.media_stream_path}"
        self.container.add_environment("MEDIA_WS_URL", self.websocket_url)
        # The media service checks each stream upgrade's X-Twilio-Signature against this URL (and refuses to
        # start with Twilio credentials but without it).
        self.container.add_environment("MEDIA_PUBLIC_WS_URL", self.websocket_url)

        if config.hosted_zone_id and config.hosted_zone_name and config.media_domain:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name)
            route53.ARecord(self, "Alias", zone=zone, record_name=config.media_domain,
                            target=route53.RecordTarget.from_alias(
                                route53_targets.LoadBalancerTarget(self.load_balancer)))  # pyright: ignore[reportArgumentType]

        scaling = self.service.auto_scale_task_count(min_capacity=config.media_min_tasks,
                                                     max_capacity=config.media_max_tasks)
        scaling.scale_to_track_custom_metric(
            "ActiveCallsPerTask", metric=active_calls_metric(config), target_value=config.target_calls_per_task,
            scale_in_cooldown=cdk.Duration.minutes(10), scale_out_cooldown=cdk.Duration.seconds(60))
        # CPU as a floor: either policy can add tasks, and a task is removed only when both allow it.
        scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=config.cpu_target_percent,
            scale_in_cooldown=cdk.Duration.minutes(10), scale_out_cooldown=cdk.Duration.seconds(60))
