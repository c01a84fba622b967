"""The whole platform for one stage, in one stack: data, secrets, queue, network, API, workflows, media,
alarms. Every name and size comes from ``StageConfig``."""

from __future__ import annotations

from urllib.parse import urlsplit

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.config import StageConfig
from infra.stacks.api import API_HANDLER, ChaliceApi
from infra.stacks.common import log_group_for
from infra.stacks.media import MediaService
from infra.stacks.tables import Tables
from infra.stacks.workflows import QUEUE_URL, STATE_MACHINE_PREFIX, TABLE_PREFIX, StateMachines

# Environment variable -> the secret it names (read lazily by the code through Secrets Manager).
SECRET_ENV = {
    "platform_keys": "PLATFORM_KEYS_SECRET_ARN",  # JSON {"deepgram": "...", "openai": "...", ...}
    "twilio": "TWILIO_SECRET_ARN",  # JSON {"account_sid": "...", "auth_token": "..."}
    "media_control": "MEDIA_CONTROL_SECRET_ARN",  # random string: HMAC of control requests
    "call_token": "CALL_TOKEN_SECRET_ARN",  # random string: HMAC of media stream call tokens
}

DYNAMODB_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                    "dynamodb:DescribeTable"]  # no Scan: no request path scans

# `pyright: ignore[reportArgumentType]` below marks a jsii class (kms.Key, iam.Role, sns.Topic, ...) passed
# where its interface is expected. jsii generates each interface as a Protocol whose parameter names differ
# from the class's (add_alias(alias) vs add_alias(alias_name)), so pyright rejects what works at runtime.


def console_origins(config: StageConfig) -> list[str]:
    """Origins the web console is served from: the API's own (public_base_url, api_domain). Without either,
    any API Gateway API of the stack's region (the API's id cannot be named here: the functions, and with them
    the API, depend on the bucket). The presigned URL, not the origin, is what grants access to a recording."""
    origins = []
    if config.public_base_url:
        url = urlsplit(config.public_base_url)
        origins.append(f"{url.scheme}://{url.netloc}")
    if config.api_domain:
        origins.append(f"https://{config.api_domain}")
    return sorted(set(origins)) or ["https://*.execute-api." + cdk.Aws.REGION + "." + cdk.Aws.URL_SUFFIX]


class PlatformStack(cdk.Stack):
    def __init__(self, scope: Construct, config: StageConfig, **kwargs) -> None:
        env = cdk.Environment(account=config.account, region=config.region) if config.account or config.region \
            else None
        super().__init__(scope, config.stack_name, env=env,
                         description=f"Voice agent platform ({config.stage}): API, workflows, media service", **kwargs)
        self.config = config
        # S3 server access logs are delivered under a bucket policy, not an ACL (every bucket here enforces
        # object ownership, which disables ACLs). Context, so it must be set before any child exists.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        cdk.Tags.of(self).add("app", config.app_name)
        cdk.Tags.of(self).add("stage", config.stage)
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY

        # ------------------------------------------------------------ data, keys, secrets, queue
        self.tables = Tables(self, "Tables", config=config)
        self.key = kms.Key(self, "SecretsKey", alias=f"alias/{config.prefix}secrets", enable_key_rotation=True,
                           description="Envelope encryption of BYOK keys, trunk passwords, webhook secrets",
                           removal_policy=removal)
        self.secrets = {
            "platform_keys": secretsmanager.Secret(
                self, "PlatformKeys", secret_name=f"{config.prefix}platform-keys", encryption_key=self.key,  # pyright: ignore[reportArgumentType]
                description='Platform provider keys, JSON: {"deepgram": "...", "openai": "...", ...}',
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template="{}", generate_string_key="placeholder"), removal_policy=removal),  # noqa: S106 - a JSON template naming the generated key, not a secret
            "twilio": secretsmanager.Secret(
                self, "TwilioCredentials", secret_name=f"{config.prefix}twilio", encryption_key=self.key,  # pyright: ignore[reportArgumentType]
                description='Twilio credentials, JSON: {"account_sid": "AC...", "auth_token": "..."}',
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template='{"account_sid": ""}', generate_string_key="auth_token",  # noqa: S106 - a JSON template naming the generated key, not a secret
                    exclude_punctuation=True), removal_policy=removal),
            "media_control": secretsmanager.Secret(
                self, "MediaControlSecret", secret_name=f"{config.prefix}media-control", encryption_key=self.key,  # pyright: ignore[reportArgumentType]
                description="HMAC secret of API -> media service control requests",
                generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48,
                                                                            exclude_punctuation=True),
                removal_policy=removal),
            "call_token": secretsmanager.Secret(
                self, "CallTokenSecret", secret_name=f"{config.prefix}call-token", encryption_key=self.key,  # pyright: ignore[reportArgumentType]
                description="HMAC secret of the call tokens in media stream parameters",
                generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48,
                                                                            exclude_punctuation=True),
                removal_policy=removal),
        }
        self.dlq = sqs.Queue(self, "WebhookDlq", queue_name=config.webhook_dlq_name,
                             retention_period=cdk.Duration.days(14), encryption=sqs.QueueEncryption.SQS_MANAGED,
                             enforce_ssl=True)
        self.queue = sqs.Queue(
            self, "WebhookQueue", queue_name=config.webhook_queue_name, encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True, visibility_timeout=cdk.Duration.seconds(6 * config.task_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=config.webhook_max_receive_count))

        # Server access logs of the recordings bucket (who fetched which recording), kept as long as other logs.
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, removal_policy=removal,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs",
                                              expiration=cdk.Duration.days(config.log_retention_days))])
        # Call recordings: private, SSE-S3 (presigned GETs need no KMS grant), TLS only, expired by lifecycle.
        self.recordings = s3.Bucket(
            self, "Recordings", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, versioned=False, removal_policy=removal,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="recordings-bucket/",
            # The console (served by the API at /console) fetches the presigned URL for its waveform.
            cors=[s3.CorsRule(allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                              allowed_origins=console_origins(config), allowed_headers=["Range"],
                              exposed_headers=["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
                              max_age=3000)],
            lifecycle_rules=[s3.LifecycleRule(id="expire-recordings", prefix="recordings/",
                                              expiration=cdk.Duration.days(config.recordings_retention_days),
                                              abort_incomplete_multipart_upload_after=cdk.Duration.days(1))])

        # ------------------------------------------------------------ network
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=config.max_azs, nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
            # Free gateway endpoints: DynamoDB and S3 traffic skips the NAT.
            gateway_endpoints={"DynamoDb": ec2.GatewayVpcEndpointOptions(
                                   service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
                               "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)})
        # Rejected traffic only: the security-relevant part, without paying for every media socket's flows.
        self.vpc.add_flow_log("FlowLog", traffic_type=ec2.FlowLogTrafficType.REJECT,
                              destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                                  log_group_for(self, "FlowLogs", f"/vpc/{config.prefix}flow-logs", config)))  # pyright: ignore[reportArgumentType]
        self.lambda_security_group = ec2.SecurityGroup(
            self, "LambdaSecurityGroup", vpc=self.vpc, allow_all_outbound=True,
            description="control-plane Lambdas (the only clients of the media control port)")

        # ------------------------------------------------------------ shared environment
        state_machine_arns = {
            "call_analysis": self.format_arn(service="states", resource="stateMachine",
                                             resource_name=config.call_analysis_state_machine_name,
                                             arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME),
            "campaign_run": self.format_arn(service="states", resource="stateMachine",
                                            resource_name=config.campaign_state_machine_name,
                                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME),
            "eval_run": self.format_arn(service="states", resource="stateMachine",
                                        resource_name=config.eval_state_machine_name,
                                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME),
        }
        public_base_url = config.public_base_url or (f"https://{config.api_domain}" if config.api_domain else None)
        common_env: dict[str, str] = {
            **self.tables.environment(),
            "STAGE": config.stage,
            "TABLE_PREFIX": config.prefix,
            "WEBHOOK_QUEUE_URL": self.queue.queue_url,
            "WEBHOOK_QUEUE_NAME": config.webhook_queue_name,
            "CALL_ANALYSIS_STATE_MACHINE_ARN": state_machine_arns["call_analysis"],
            "CAMPAIGN_STATE_MACHINE_ARN": state_machine_arns["campaign_run"],
            "EVAL_STATE_MACHINE_ARN": state_machine_arns["eval_run"],
            "CAMPAIGN_DISPATCH_SECONDS": str(config.campaign_dispatch_seconds),
            "CAMPAIGN_DIAL_THREADS": str(config.campaign_dial_threads),
            "MEDIA_CONTROL_URL": config.media_control_url,
            "KMS_KEY_ID": self.key.key_arn,
            "RECORDINGS_BUCKET": self.recordings.bucket_name,
            **{env_name: self.secrets[key].secret_arn for key, env_name in SECRET_ENV.items()},
        }
        if public_base_url:
            common_env["PUBLIC_BASE_URL"] = public_base_url
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "voice:no-public-base-url", "PUBLIC_BASE_URL is not set: Twilio callbacks need it. After the first "
                "deploy, redeploy with -c public_base_url=<ApiUrl output without the trailing slash> "
                "(or set api_domain).")

        # ------------------------------------------------------------ media service (Fargate)
        self.media = MediaService(
            self, "Media", config=config, vpc=self.vpc, lambda_security_group=self.lambda_security_group,
            environment={**common_env, "POWERTOOLS_SERVICE_NAME": "voice-media"},
            secrets={
                "CALL_TOKEN_SECRET": ecs.Secret.from_secrets_manager(self.secrets["call_token"]),  # pyright: ignore[reportArgumentType]
                "MEDIA_CONTROL_SECRET": ecs.Secret.from_secrets_manager(self.secrets["media_control"]),  # pyright: ignore[reportArgumentType]
                "TWILIO_ACCOUNT_SID": ecs.Secret.from_secrets_manager(self.secrets["twilio"], "account_sid"),  # pyright: ignore[reportArgumentType]
                "TWILIO_AUTH_TOKEN": ecs.Secret.from_secrets_manager(self.secrets["twilio"], "auth_token"),  # pyright: ignore[reportArgumentType]
            })
        common_env["MEDIA_WS_URL"] = self.media.websocket_url

        # ------------------------------------------------------------ control plane (Chalice)
        self.lambda_role = iam.Role(
            self, "LambdaRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),  # pyright: ignore[reportArgumentType]
            description="Chalice functions: exactly the tables, queue, key, secrets and state machines they use",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole"),
                iam.ManagedPolicy.from_aws_managed_policy_name("AWSXRayDaemonWriteAccess"),
            ])
        for role in (self.lambda_role, self.media.task_role):
            self._grant_runtime(role, state_machine_arns)  # pyright: ignore[reportArgumentType]
        # Recordings: the media tasks write them; the Lambdas presign GETs (a presigned URL carries the
        # signer's rights) and delete them (GDPR cleanup). Nobody lists the bucket.
        recordings = self.recordings.arn_for_objects("recordings/*")
        self.media.task_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"],
                                                                         resources=[recordings]))
        self.lambda_role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:DeleteObject"],
                                                                     resources=[recordings]))
        self.api = ChaliceApi(
            self, config=config, vpc=self.vpc, security_group=self.lambda_security_group, role=self.lambda_role,  # pyright: ignore[reportArgumentType]
            environment={**common_env, "POWERTOOLS_SERVICE_NAME": "voice-api"},
            packaging_environment={"WEBHOOK_QUEUE_NAME": config.webhook_queue_name, "STAGE": config.stage,
                                   "TABLE_PREFIX": config.prefix})

        # ------------------------------------------------------------ workflows
        self.workflows = StateMachines(
            self, "Workflows", config=config, function_arn=self.api.function_arn,
            function_arns=[arn for f in self.api.function_ids
                           if f != API_HANDLER and (arn := self.api.function_arn(f)) is not None],
            values={
                **{f"{TABLE_PREFIX}{t}": table.table_name for t, table in self.tables.tables.items()},
                **{f"{STATE_MACHINE_PREFIX}{k}": arn for k, arn in state_machine_arns.items()},
                QUEUE_URL: self.queue.queue_url,
            },
            table_arns=[t.table_arn for t in self.tables.tables.values()], queue_arn=self.queue.queue_arn)

        # ------------------------------------------------------------ alarms and outputs
        self.alarm_topic = sns.Topic(self, "Alarms", topic_name=f"{config.prefix}alarms", enforce_ssl=True)
        if config.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))  # pyright: ignore[reportArgumentType]
        self.alarms = self._alarms()

        if config.api_domain:
            api_url = f"https://{config.api_domain}/"
        else:
            api_url = cdk.Fn.sub("https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
                                 + config.api_gateway_stage + "/", {"Api": self.api.rest_api_id})
        cdk.CfnOutput(self, "ApiUrl", value=api_url, description="REST API base (append api/v1/...)")
        cdk.CfnOutput(self, "MediaWebSocketUrl", value=self.media.websocket_url,
                      description="Twilio Media Streams URL (MEDIA_WS_URL)")
        cdk.CfnOutput(self, "MediaLoadBalancerDns", value=self.media.load_balancer.load_balancer_dns_name,
                      description="Point media_domain (CNAME/alias) here when no hosted zone is configured")
        cdk.CfnOutput(self, "MediaClusterName", value=self.media.cluster.cluster_name,
                      description="ECS cluster of the media service (aws ecs update-service --cluster ...)")
        cdk.CfnOutput(self, "TablePrefix", value=config.prefix, description="TABLE_PREFIX for the admin CLI")
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        for key, env_name in SECRET_ENV.items():
            cdk.CfnOutput(self, env_name.title().replace("_", ""), value=self.secrets[key].secret_arn)
        nag.suppress(self)

    def _grant_runtime(self, role: iam.IRole, state_machine_arns: dict[str, str]) -> None:
        """What the application code (Lambdas and media tasks alike) calls: named resources only."""
        tables = [t.table_arn for t in self.tables.tables.values()]
        executions = [self.format_arn(service="states", resource="execution", resource_name=f"{name}:*",
                                      arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
                      for name in (self.config.call_analysis_state_machine_name,
                                   self.config.campaign_state_machine_name, self.config.eval_state_machine_name)]
        statements = [
            iam.PolicyStatement(actions=DYNAMODB_ACTIONS, resources=tables + [f"{arn}/index/*" for arn in tables]),
            iam.PolicyStatement(actions=["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                         "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                                resources=[self.queue.queue_arn]),
            iam.PolicyStatement(actions=["states:StartExecution", "states:SendTaskSuccess", "states:SendTaskFailure",
                                         "states:SendTaskHeartbeat"],
                                resources=list(state_machine_arns.values())),
            iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=executions),
            iam.PolicyStatement(actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                                resources=[self.key.key_arn]),
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                                resources=[s.secret_arn for s in self.secrets.values()]),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)

    def _alarms(self) -> list[cloudwatch.Alarm]:
        config = self.config
        five = cdk.Duration.minutes(5)
        action = cw_actions.SnsAction(self.alarm_topic)  # pyright: ignore[reportArgumentType]
        alarms: list[cloudwatch.Alarm] = []

        def alarm(id: str, metric: cloudwatch.IMetric, threshold: float, description: str, periods: int = 1) -> None:
            created = cloudwatch.Alarm(
                self, id, metric=metric, threshold=threshold, evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
            created.add_alarm_action(action)  # pyright: ignore[reportArgumentType]
            alarms.append(created)

        alarm("Api5xx", cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="5XXError", statistic="Sum",
                                          period=five, dimensions_map={"ApiName": config.prefix + "api",
                                                                       "Stage": config.api_gateway_stage}),
              5, "API Gateway answered 5xx at least 5 times in 5 minutes")
        for function_id in self.api.function_ids:
            name = self.api.chalice.get_resource(function_id).ref
            for metric_name in ("Errors", "Throttles"):
                alarm(f"{function_id}{metric_name}",
                      cloudwatch.Metric(namespace="AWS/Lambda", metric_name=metric_name, statistic="Sum", period=five,
                                        dimensions_map={"FunctionName": name}),
                      1, f"Lambda {function_id}: {metric_name.lower()} in the last 5 minutes")
        for key, machine in self.workflows.machines.items():
            alarm(f"{key}-failed", machine.metric_failed(period=five, statistic="Sum"), 1,
                  f"State machine {key}: failed executions")
            alarm(f"{key}-timed-out", machine.metric_timed_out(period=five, statistic="Sum"), 1,
                  f"State machine {key}: timed-out executions")
        alarm("WebhookDlqDepth", self.dlq.metric_approximate_number_of_messages_visible(period=five,
                                                                                          statistic="Maximum"),
              1, "Webhook deliveries gave up and sit in the dead-letter queue")
        alarm("MediaUnhealthyTasks", self.media.target_group.metrics.unhealthy_host_count(
            period=cdk.Duration.minutes(1), statistic="Maximum"), 1,
              "Media tasks failing the /healthz check", periods=3)
        return alarms
