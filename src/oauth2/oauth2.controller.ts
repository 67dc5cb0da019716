import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../common/auth/access.decorators';
import { RequestId } from './request-id.decorator';
import { OAuth2Service, type CallbackQuery } from './oauth2.service';

const CONNECTED_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connected</title></head>
<body><p>Connected. You can close this window.</p></body></html>
`;

@ApiTags('oauth2')
@Controller('v1/oauth2')
export class OAuth2Controller {
  constructor(private readonly oauth2: OAuth2Service) {}

  /** Where the provider sends the user back; public, because the browser arrives without our token. */
  @Get('callback')
  @Public()
  @ApiOperation({ summary: 'OAuth2 authorization-code callback: exchanges the code (PKCE) and stores the tokens on the connection' })
  @ApiQuery({ name: 'state', required: true })
  @ApiQuery({ name: 'code', required: false })
  @ApiQuery({ name: 'error', required: false })
  @ApiQuery({ name: 'error_description', required: false })
  @ApiResponse({ status: 200, description: 'A small HTML page ("Connected. You can close this window.").' })
  @ApiResponse({ status: 302, description: 'To OAUTH2_RETURN_URL?connection=<id>&status=ok when it is set.' })
  @ApiResponse({ status: 400, description: 'Unknown, expired or reused state; provider error; code exchange failed (problem+json).' })
  async callback(@Query() query: CallbackQuery, @RequestId() requestId: string, @Res() reply: FastifyReply): Promise<void> {
    const { connectionId } = await this.oauth2.completeAuthorization(query, requestId);
    void reply.header('Cache-Control', 'no-store').header('Referrer-Policy', 'no-referrer');
    const returnUrl = this.oauth2.returnUrl;
    if (returnUrl) {
      const target = new URL(returnUrl);
      target.searchParams.set('connection', connectionId);
      target.searchParams.set('status', 'ok');
      await reply.redirect(target.toString(), 302);
      return;
    }
    await reply
      .status(200)
      .header('Content-Security-Policy', "default-src 'none'")
      .type('text/html; charset=utf-8')
      .send(CONNECTED_PAGE);
  }
}
